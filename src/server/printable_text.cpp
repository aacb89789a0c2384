#include "server/printable_text.h"

#include <cstdio>

namespace herald {

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string field_text(std::string_view key, std::string_view value) {
  const bool plain = !value.empty() && value.find_first_of(" \t\"\\") == std::string_view::npos;
  if (plain) return printable(key) + "=" + printable(value);
  std::string quoted = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return printable(key) + "=" + printable(quoted) + "\"";
}

std::string padded(std::string text, size_t width) {
  if (text.size() < width) text.append(width - text.size(), ' ');
  return text;
}

std::string truncated(std::string text, size_t width) {
  if (text.size() <= width) return text;
  text.resize(width - 1);
  // Never half a UTF-8 sequence: the last character goes whole when it was cut.
  while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xc0) == 0x80) {
    text.pop_back();
  }
  if (!text.empty() && static_cast<unsigned char>(text.back()) >= 0xc0) text.pop_back();
  text += '~';
  return text;
}

}  // namespace herald
