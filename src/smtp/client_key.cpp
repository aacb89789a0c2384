#include "smtp/client_key.h"

#include <arpa/inet.h>

#include <array>
#include <cstring>

namespace herald {

std::string client_key(std::string_view ip) {
  const std::string text(ip);
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) != 1) return text;  // IPv4, or not an address
  std::array<char, INET6_ADDRSTRLEN> out{};
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    in_addr v4{};
    std::memcpy(&v4, v6.s6_addr + 12, 4);
    return inet_ntop(AF_INET, &v4, out.data(), out.size());
  }
  std::memset(v6.s6_addr + 8, 0, 8);  // the interface identifier
  return std::string(inet_ntop(AF_INET6, &v6, out.data(), out.size())) + "/64";
}

}  // namespace herald
