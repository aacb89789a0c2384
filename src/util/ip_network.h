// An IP network in CIDR notation ("127.0.0.0/8", "2001:db8::/32", or one address), for
// settings such as [server] trusted_networks.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace herald {

class IpNetwork {
 public:
  // "ADDRESS/PREFIX" or a bare address (the whole address is the prefix). nullopt when it
  // is not one, or when the prefix is longer than the address or has bits set beyond it.
  static std::optional<IpNetwork> parse(std::string_view text);

  // Whether the numeric address `ip` lies in the network. An IPv4-mapped IPv6 address
  // (::ffff:a.b.c.d, as a dual-stack socket reports IPv4 peers) counts as its IPv4 address.
  // Anything that is not a numeric address is outside every network.
  bool contains(std::string_view ip) const;

 private:
  bool v6_ = false;
  std::array<uint8_t, 16> bytes_{};
  unsigned prefix_ = 0;
};

}  // namespace herald
