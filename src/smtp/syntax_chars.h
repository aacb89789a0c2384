// The character classes of RFC 5321 4.1.2's grammar, shared by the command line
// (smtp/command.cpp) and its ESMTP parameters (smtp/mail_parameters.cpp).
#pragma once

#include <string_view>

namespace herald::smtp_syntax {

inline bool is_alpha(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
inline bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}
inline bool is_let_dig(unsigned char c) {
  return is_alpha(c) || is_digit(c);
}

// RFC 5322 3.2.3 atext, which RFC 5321 4.1.2 uses for Atom.
inline bool is_atext(unsigned char c) {
  if (is_let_dig(c)) return true;
  constexpr std::string_view specials = "!#$%&'*+-/=?^_`{|}~";
  return specials.find(static_cast<char>(c)) != std::string_view::npos;
}

}  // namespace herald::smtp_syntax
