#include "mqtt/utf8.h"

#include <cstdint>

namespace herald::mqtt {
namespace {

// Decodes the code point at `at` and advances past it; false when the bytes there are not
// well-formed UTF-8 or encode a surrogate (RFC 3629 4).
bool next_code_point(std::string_view text, size_t& at, uint32_t& code_point) {
  const auto lead = static_cast<uint8_t>(text[at]);
  size_t length;
  uint32_t minimum;
  if (lead < 0x80) {
    code_point = lead;
    ++at;
    return true;
  } else if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2, minimum = 0x80, code_point = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3, minimum = 0x800, code_point = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4, minimum = 0x10000, code_point = lead & 0x07;
  } else {
    return false;  // a continuation byte, C0/C1 (always overlong) or F5..FF
  }
  if (text.size() - at < length) return false;
  for (size_t i = 1; i < length; ++i) {
    const auto byte = static_cast<uint8_t>(text[at + i]);
    if ((byte & 0xC0) != 0x80) return false;
    code_point = (code_point << 6) | (byte & 0x3F);
  }
  if (code_point < minimum || code_point > 0x10FFFF) return false;
  if (code_point >= 0xD800 && code_point <= 0xDFFF) return false;
  at += length;
  return true;
}

bool is_discouraged(uint32_t code_point) {
  if (code_point <= 0x1F || (code_point >= 0x7F && code_point <= 0x9F)) return true;
  if (code_point >= 0xFDD0 && code_point <= 0xFDEF) return true;
  return (code_point & 0xFFFE) == 0xFFFE;
}

}  // namespace

bool is_mqtt_utf8(std::string_view text) {
  size_t at = 0;
  uint32_t code_point = 0;
  while (at < text.size()) {
    if (!next_code_point(text, at, code_point) || code_point == 0) return false;
  }
  return true;
}

bool has_discouraged_code_points(std::string_view text) {
  size_t at = 0;
  uint32_t code_point = 0;
  while (at < text.size()) {
    if (!next_code_point(text, at, code_point)) return false;
    if (is_discouraged(code_point)) return true;
  }
  return false;
}

}  // namespace herald::mqtt
