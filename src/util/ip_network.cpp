#include "util/ip_network.h"

#include <arpa/inet.h>

#include <charconv>
#include <string>

namespace herald {
namespace {

struct Address {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};
};

std::optional<Address> parse_address(std::string_view text) {
  const std::string copy(text);
  Address a;
  if (inet_pton(AF_INET, copy.c_str(), a.bytes.data()) == 1) return a;
  if (inet_pton(AF_INET6, copy.c_str(), a.bytes.data()) != 1) return std::nullopt;
  a.v6 = true;
  // RFC 4291 2.5.5.2: ::ffff:a.b.c.d is an IPv4 address carried in IPv6.
  static constexpr std::array<uint8_t, 12> kMapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMapped.begin(), kMapped.end(), a.bytes.begin())) {
    std::array<uint8_t, 16> v4{};
    std::copy(a.bytes.begin() + 12, a.bytes.end(), v4.begin());
    a.bytes = v4;
    a.v6 = false;
  }
  return a;
}

bool bit_set(const std::array<uint8_t, 16>& bytes, unsigned bit) {
  return (bytes[bit / 8] >> (7 - bit % 8)) & 1;
}

}  // namespace

std::optional<IpNetwork> IpNetwork::parse(std::string_view text) {
  const auto slash = text.find('/');
  const auto address = parse_address(text.substr(0, slash));
  if (!address) return std::nullopt;
  const unsigned width = address->v6 ? 128 : 32;
  // A mapped IPv4 address written in IPv6 form would make the prefix length ambiguous.
  if (!address->v6 && text.substr(0, slash).find(':') != std::string_view::npos) {
    return std::nullopt;
  }
  unsigned prefix = width;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() ||
        prefix > width) {
      return std::nullopt;
    }
  }
  // "10.1.2.3/8" is most likely a typo for a host or for 10.0.0.0/8: refuse to guess.
  for (unsigned bit = prefix; bit < width; ++bit) {
    if (bit_set(address->bytes, bit)) return std::nullopt;
  }
  IpNetwork network;
  network.v6_ = address->v6;
  network.bytes_ = address->bytes;
  network.prefix_ = prefix;
  return network;
}

bool IpNetwork::contains(std::string_view ip) const {
  const auto address = parse_address(ip);
  if (!address || address->v6 != v6_) return false;
  for (unsigned bit = 0; bit < prefix_; ++bit) {
    if (bit_set(address->bytes, bit) != bit_set(bytes_, bit)) return false;
  }
  return true;
}

}  // namespace herald
