#include "dns/dns_answer.h"

#include <algorithm>
#include <cctype>

namespace herald {

std::string_view to_string(DnsStatus status) {
  switch (status) {
    case DnsStatus::no_error:
      return "no-error";
    case DnsStatus::nxdomain:
      return "nxdomain";
    case DnsStatus::servfail:
      return "servfail";
    case DnsStatus::timeout:
      return "timeout";
  }
  return "unknown";
}

std::string normalize_dns_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string normal(name);
  std::transform(normal.begin(), normal.end(), normal.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return normal;
}

}  // namespace herald
