#include "mqtt/utf8.h"

#include <cstdint>

#include "util/utf8.h"

namespace herald::mqtt {
namespace {

// The code point at `at`, advancing past it; false when no well-formed character starts
// there. Which sequences are well-formed is util/utf8.h's business; this only reads the
// value out of one.
bool next_code_point(std::string_view text, size_t& at, uint32_t& code_point) {
  const auto lead = static_cast<uint8_t>(text[at]);
  if (lead < 0x80) {
    code_point = lead;
    ++at;
    return true;
  }
  const size_t length = utf8_sequence_length(text, at);
  if (length == 0) return false;
  code_point = lead & (0x7F >> length);  // the lead byte's payload bits
  for (size_t i = 1; i < length; ++i) {
    code_point = (code_point << 6) | (static_cast<uint8_t>(text[at + i]) & 0x3F);
  }
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
