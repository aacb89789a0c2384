// The key per-client limits count under (connections per client, AUTH and SRS failures): an
// IPv4 address, or the /64 an IPv6 address belongs to. One IPv6 host commonly holds a whole
// /64 (RFC 6177 recommends at least that per site, SLAAC needs it), so counting its addresses
// apart would let one client take 2^64 fresh identities. Postfix's smtpd_client_*_limit keys
// IPv6 clients by prefix the same way (smtpd_client_ipv6_prefix_length, default 64).
#pragma once

#include <string>
#include <string_view>

namespace herald {

// "192.0.2.7" for 192.0.2.7 and for its IPv4-mapped form ::ffff:192.0.2.7 (a dual-stack
// socket reports IPv4 clients so); "2001:db8:1:2::/64" for any address in 2001:db8:1:2::/64;
// anything that is not a numeric address is its own key. Pure.
std::string client_key(std::string_view ip);

}  // namespace herald
