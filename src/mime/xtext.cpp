#include "mime/xtext.h"

namespace herald {
namespace {

constexpr char kHexDigits[] = "0123456789ABCDEF";

// RFC 3461 4: xchar is "!".."~" except "+" and "=".
bool is_xchar(unsigned char c) {
  return c >= '!' && c <= '~' && c != '+' && c != '=';
}

// RFC 3461 4: hexchar uses upper-case hex digits only.
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string xtext_encode(std::string_view octets) {
  std::string out;
  out.reserve(octets.size());
  for (const char c : octets) {
    const auto byte = static_cast<unsigned char>(c);
    if (is_xchar(byte)) {
      out += c;
    } else {
      out += '+';
      out += kHexDigits[byte >> 4];
      out += kHexDigits[byte & 0xF];
    }
  }
  return out;
}

std::optional<std::string> xtext_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (is_xchar(c)) {
      out += text[i];
      continue;
    }
    if (c != '+' || i + 2 >= text.size()) return std::nullopt;
    const int high = hex_value(text[i + 1]);
    const int low = hex_value(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

}  // namespace herald
