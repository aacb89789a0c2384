#include "transport/smtp_next_hops.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <utility>

#include "smtp/mx_selection.h"
#include "util/ascii.h"
#include "util/time_text.h"

namespace herald {
namespace {

namespace asio = boost::asio;
using Outcome = AttemptResult::Outcome;

// RFC 5321 4.1.3 and 5.1: a domain written as an address literal ("[192.0.2.1]",
// "[IPv6:2001:db8::1]") names the host itself; no DNS is asked.
std::optional<std::string> address_literal(std::string_view domain) {
  if (domain.size() < 3 || domain.front() != '[' || domain.back() != ']') return std::nullopt;
  std::string_view inside = domain.substr(1, domain.size() - 2);
  if (ascii_lower(inside.substr(0, 5)) == "ipv6:") inside.remove_prefix(5);
  return std::string(inside);
}

}  // namespace

AttemptResult attempt_result(Outcome outcome, std::string reply) {
  AttemptResult r;
  r.outcome = outcome;
  r.reply = std::move(reply);
  return r;
}

AttemptResult shutting_down() {
  return attempt_result(Outcome::temporary, "4.4.2 herald is shutting down");
}

NextHopFinder::NextHopFinder(const OutboundStrand& strand, Resolver& resolver,
                             const OutboundConfig& config, std::vector<RouteConfig> routes,
                             std::vector<std::string> local_names)
    : strand_(strand),
      resolver_(resolver),
      config_(config),
      routes_(std::move(routes)),
      local_names_(std::move(local_names)) {}

const RouteConfig* NextHopFinder::route_for(const std::string& domain) const {
  const auto route = std::find_if(routes_.begin(), routes_.end(),
                                  [&](const RouteConfig& r) { return r.domain == domain; });
  return route == routes_.end() ? nullptr : &*route;
}

asio::awaitable<NextHops> NextHopFinder::next_hops(const std::string& domain,
                                                   const RouteConfig* route,
                                                   SteadyClock::time_point deadline) {
  NextHops hops;
  hops.port = config_.mx_port;
  if (route) {
    hops.hosts.push_back(route->host);
    hops.port = route->port;
    co_return hops;
  }
  if (std::optional<std::string> literal = address_literal(domain)) {
    hops.hosts.push_back(std::move(*literal));
    co_return hops;
  }
  const std::optional<DnsAnswer<MxRecord>> mx =
      co_await lookup(&Resolver::lookup_mx, domain, deadline);
  if (!mx && shut_down_) {
    hops.failure = shutting_down();
  } else if (!mx) {
    hops.failure =
        attempt_result(Outcome::temporary, "4.4.3 attempt deadline passed (attempt_timeout " +
                                               duration_text(config_.attempt_timeout) +
                                               ") waiting for DNS: MX of " + domain);
  } else if (mx->status == DnsStatus::nxdomain) {
    hops.failure = attempt_result(Outcome::permanent,
                                  "5.1.2 domain " + domain + " does not exist (DNS NXDOMAIN)");
  } else if (is_temporary(mx->status)) {
    hops.failure =
        attempt_result(Outcome::temporary, "4.4.3 MX lookup for " + domain + " failed (" +
                                               std::string(to_string(mx->status)) + ")");
  } else {
    const MxPlan plan = plan_mx(
        domain, mx->records, local_names_,
        [this](size_t bound) {
          return std::uniform_int_distribution<size_t>(0, bound - 1)(random_);
        },
        config_.max_mx_hosts);
    if (plan.null_mx || plan.hosts.empty()) {
      hops.failure = attempt_result(Outcome::permanent, plan.reason);
    }
    for (const MxHost& host : plan.hosts) hops.hosts.push_back(host.name);
    hops.from_mx = true;
  }
  co_return hops;
}

asio::awaitable<HostAddresses> NextHopFinder::addresses_of(const std::string& host,
                                                           SteadyClock::time_point deadline) {
  HostAddresses found;
  boost::system::error_code not_numeric;
  const asio::ip::address numeric = asio::ip::make_address(host, not_numeric);
  if (!not_numeric) {
    found.addresses.push_back(numeric);
    co_return found;
  }
  for (const auto query : {&Resolver::lookup_a, &Resolver::lookup_aaaa}) {
    const std::optional<DnsAnswer<std::string>> answer = co_await lookup(query, host, deadline);
    if (!answer) {
      found.no_answer = true;
      break;
    }
    if (is_temporary(answer->status)) found.dns_trouble = true;
    for (const std::string& text : answer->records) {
      boost::system::error_code malformed;
      const asio::ip::address address = asio::ip::make_address(text, malformed);
      if (!malformed) found.addresses.push_back(address);
    }
  }
  co_return found;
}

void NextHopFinder::shutdown() {
  shut_down_ = true;
  for (asio::steady_timer* wait : waits_) wait->cancel();
}

// dns_lookup() (dns/awaitable.h) cannot be abandoned; this waits for the answer, the
// attempt's deadline or shutdown(), whichever comes first (nullopt: no answer).
template <class Record>
asio::awaitable<std::optional<DnsAnswer<Record>>> NextHopFinder::lookup(
    void (Resolver::*query)(std::string, Resolver::Done<Record>), std::string name,
    SteadyClock::time_point deadline) {
  struct Pending {
    Pending(const OutboundStrand& strand, SteadyClock::time_point deadline)
        : wake(strand, deadline) {}
    asio::steady_timer wake;
    std::optional<DnsAnswer<Record>> answer;
  };
  if (shut_down_) co_return std::nullopt;
  const auto pending = std::make_shared<Pending>(strand_, deadline);
  // The answer may come on any thread, even inside this call; it is handed over on strand_.
  (resolver_.*query)(std::move(name), [pending, strand = strand_](DnsAnswer<Record> answer) {
    asio::post(strand, [pending, answer = std::move(answer)]() mutable {
      pending->answer = std::move(answer);
      pending->wake.cancel();
    });
  });
  waits_.insert(&pending->wake);
  boost::system::error_code ignored;
  if (!pending->answer && !shut_down_) {
    co_await pending->wake.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  waits_.erase(&pending->wake);
  co_return std::move(pending->answer);
}

}  // namespace herald
