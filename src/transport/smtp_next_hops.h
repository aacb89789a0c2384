// Where the mail for a domain goes (RFC 5321 5.1): a [[route]], an address literal, or the
// domain's MX hosts, and each host's addresses; apart from the sessions, as mox keeps
// smtpclient/gather.go apart from its client. Internal to the SMTP transport.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "dns/resolver.h"
#include "queue/transport.h"
#include "transport/smtp_connection.h"

namespace herald {

AttemptResult attempt_result(AttemptResult::Outcome outcome, std::string reply);
AttemptResult shutting_down();

// RFC 5321 4.5.4.2: the port a server listens on for SMTP.
constexpr uint16_t kSmtpPort = 25;

// Hosts in order of preference and the port they listen on, or why the mail goes nowhere.
struct NextHops {
  std::vector<std::string> hosts;  // names or numeric addresses
  uint16_t port = kSmtpPort;
  bool from_mx = false;  // the hosts came from MX records (or the implicit MX)
  std::optional<AttemptResult> failure;
};

struct HostAddresses {
  std::vector<boost::asio::ip::address> addresses;  // IPv4 first
  bool dns_trouble = false;                         // a lookup failed for now (SERVFAIL, timeout)
  bool no_answer = false;  // the attempt's deadline passed, or shutdown, before an answer
};

// Used on the transport's strand only (shutdown() may be called there too). `resolver`
// must outlive it.
class NextHopFinder {
 public:
  // `local_names` are herald's own host names: an MX pointing at one of them is a loop.
  NextHopFinder(const OutboundStrand& strand, Resolver& resolver, const OutboundConfig& config,
                std::vector<RouteConfig> routes, std::vector<std::string> local_names);

  const RouteConfig* route_for(const std::string& domain) const;

  // RFC 5321 5.1: the route's host, an address literal's address, or the domain's MX hosts
  // (at most config.max_mx_hosts). Every DNS wait ends by `deadline`: past it, failure is a
  // temporary "4.4.3 … attempt deadline passed".
  boost::asio::awaitable<NextHops> next_hops(const std::string& domain, const RouteConfig* route,
                                             SteadyClock::time_point deadline);

  // A host's addresses, IPv4 first: much of the receiving world still judges IPv6 senders
  // more harshly (reverse DNS, reputation), and a host without IPv6 fails fast on it anyway.
  // A numeric host is its own address.
  boost::asio::awaitable<HostAddresses> addresses_of(const std::string& host,
                                                     SteadyClock::time_point deadline);

  // Wakes every wait for DNS (they end with no answer); later lookups end at once.
  void shutdown();

 private:
  template <class Record>
  boost::asio::awaitable<std::optional<DnsAnswer<Record>>> lookup(
      void (Resolver::*query)(std::string, Resolver::Done<Record>), std::string name,
      SteadyClock::time_point deadline);

  OutboundStrand strand_;
  Resolver& resolver_;
  const OutboundConfig& config_;
  const std::vector<RouteConfig> routes_;
  const std::vector<std::string> local_names_;
  bool shut_down_ = false;
  std::set<boost::asio::steady_timer*> waits_;       // lookups waiting for the resolver
  std::minstd_rand random_{std::random_device{}()};  // spreads load over equal MX hosts
};

}  // namespace herald
