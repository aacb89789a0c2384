// Where herald itself listens, so that mail it relays is never handed back to it: RFC 5321
// 5.1 makes an MX list that leads to the local host an error, and the same holds for a
// [[route]] or an address literal. Host names are compared elsewhere (plan_mx); this compares
// the addresses the names resolved to, which a name check cannot see (another name for the
// same host, an MX record pointing at 127.0.0.1, a route written as an address).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace herald {

struct OwnListener {
  std::string host;  // numeric IPv4 or IPv6 address; "0.0.0.0" or "::" listens on all
  uint16_t port = 0;
};

// Immutable after construction; contains() is thread-safe.
class OwnEndpoints {
 public:
  OwnEndpoints() = default;
  explicit OwnEndpoints(std::vector<OwnListener> listeners);

  // Whether a connection to `ip` (numeric) and `port` would reach one of the listeners: the
  // same address and port, or a listener on all addresses with that port and `ip` one of
  // this host's (loopback, or an interface's, read afresh each call since interfaces come
  // and go). An IPv4-mapped IPv6 address counts as its IPv4 address; a listener on "::"
  // takes IPv4 connections too (Linux's default, IPV6_V6ONLY off). Not numeric: false.
  bool contains(std::string_view ip, uint16_t port) const;

 private:
  std::vector<OwnListener> listeners_;
};

}  // namespace herald
