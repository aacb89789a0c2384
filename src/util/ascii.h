// Case in protocol text: domain names, header field names, SMTP verbs and tag names compare
// without regard to ASCII case (RFC 5321 2.4, RFC 5322 1.2.2, RFC 6376 3.2). Bytes outside
// ASCII are left alone: UTF-8 is never case-folded by these.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

namespace herald {

inline char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string ascii_lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) { return ascii_lower(c); });
  return out;
}

inline bool equals_ignoring_ascii_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

}  // namespace herald
