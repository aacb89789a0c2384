#include "transport/own_endpoints.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <boost/asio/ip/address.hpp>
#include <cstring>
#include <optional>
#include <utility>

namespace herald {
namespace {

namespace net = boost::asio::ip;

std::optional<net::address> parse(std::string_view text) {
  boost::system::error_code malformed;
  net::address address = net::make_address(std::string(text), malformed);
  if (malformed) return std::nullopt;
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return net::make_address_v4(net::v4_mapped, address.to_v6());
  }
  return address;
}

// RFC 1122 3.2.1.3 and RFC 4291 2.5.3: the whole of 127.0.0.0/8 and ::1 are this host.
bool is_loopback(const net::address& address) {
  return address.is_loopback();
}

bool is_interface_address(const net::address& address) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return false;
  bool found = false;
  for (const ifaddrs* entry = list; entry != nullptr && !found; entry = entry->ifa_next) {
    if (entry->ifa_addr == nullptr) continue;
    if (entry->ifa_addr->sa_family == AF_INET && address.is_v4()) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
      net::address_v4::bytes_type bytes;
      std::memcpy(bytes.data(), &in->sin_addr, bytes.size());
      found = net::address_v4(bytes) == address.to_v4();
    } else if (entry->ifa_addr->sa_family == AF_INET6 && address.is_v6()) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(entry->ifa_addr);
      net::address_v6::bytes_type bytes;
      std::memcpy(bytes.data(), &in6->sin6_addr, bytes.size());
      found = net::address_v6(bytes) == address.to_v6();
    }
  }
  ::freeifaddrs(list);
  return found;
}

}  // namespace

OwnEndpoints::OwnEndpoints(std::vector<OwnListener> listeners) : listeners_(std::move(listeners)) {}

bool OwnEndpoints::contains(std::string_view ip, uint16_t port) const {
  const std::optional<net::address> target = parse(ip);
  if (!target) return false;
  for (const OwnListener& listener : listeners_) {
    if (listener.port != port) continue;
    const std::optional<net::address> own = parse(listener.host);
    if (!own) continue;
    if (!own->is_unspecified()) {
      if (*own == *target) return true;
      continue;
    }
    // A listener on all addresses: "0.0.0.0" takes IPv4 only, "::" both families.
    if (own->is_v4() && !target->is_v4()) continue;
    if (is_loopback(*target) || is_interface_address(*target)) return true;
  }
  return false;
}

}  // namespace herald
