// SPF macro expansion (RFC 7208 7): turning a macro-string such as "%{ir}.%{v}._spf.%{d}"
// into text, given the values of the check in progress. Pure; the caller looks up %{p}
// beforehand when spf_macros_use() says it is needed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herald {

// RFC 7208 7.2: what each macro letter stands for.
struct SpfMacroValues {
  std::string sender;                // s: local-part@domain ("postmaster" for an empty local part)
  std::string local_part;            // l
  std::string sender_domain;         // o
  std::string domain;                // d: the domain being checked at this depth
  std::string ip;                    // i: dotted quad, or 32 dot-separated nibbles for IPv6
  std::string validated_name;        // p: the validated PTR name, or "unknown"
  bool ipv6 = false;                 // v: "ip6" or "in-addr"
  std::string helo;                  // h
  std::string client_ip;             // c: the address as usually written
  std::string receiver = "unknown";  // r
  int64_t timestamp = 0;             // t: seconds since the epoch
};

// Expands `text`. nullopt when it is not a valid macro-string (RFC 7208 7.1), including c,
// r or t outside explanation text. Uppercase letters URL-escape the value (RFC 7208 7.3).
std::optional<std::string> expand_spf_macros(std::string_view text, const SpfMacroValues& values,
                                             bool explanation);

// Whether `text` contains a macro with `letter` (any case), e.g. to look up %{p} only
// when it is used.
bool spf_macros_use(std::string_view text, char letter);

}  // namespace herald
