#include "mqtt/wire.h"

#include <fmt/format.h>

#include <stdexcept>
#include <utility>

#include "mqtt/utf8.h"

namespace herald::mqtt {

bool WireReader::have(size_t size, std::string_view what) {
  if (failed()) return false;
  if (rest_.size() >= size) return true;
  fail(ReasonCode::malformed_packet, fmt::format("packet ends inside the {}", what));
  return false;
}

void WireReader::byte(uint8_t& value) {
  if (!have(1, "byte it announces")) return;
  value = static_cast<uint8_t>(rest_[0]);
  rest_.remove_prefix(1);
}

void WireReader::two_byte_integer(uint16_t& value) {
  if (!have(2, "two-byte integer it announces")) return;
  value =
      static_cast<uint16_t>((static_cast<uint8_t>(rest_[0]) << 8) | static_cast<uint8_t>(rest_[1]));
  rest_.remove_prefix(2);
}

void WireReader::four_byte_integer(uint32_t& value) {
  if (!have(4, "four-byte integer it announces")) return;
  value = 0;
  for (size_t i = 0; i < 4; ++i) value = (value << 8) | static_cast<uint8_t>(rest_[i]);
  rest_.remove_prefix(4);
}

void WireReader::variable_byte_integer(uint32_t& value) {
  value = 0;
  for (size_t i = 0; i < 4; ++i) {
    if (!have(1, "variable byte integer")) return;
    const auto byte = static_cast<uint8_t>(rest_[0]);
    rest_.remove_prefix(1);
    value |= static_cast<uint32_t>(byte & 0x7F) << (7 * i);
    if ((byte & 0x80) == 0) {
      // A last byte of 0 after the first adds nothing: the value fitted in fewer bytes.
      if (i > 0 && byte == 0) {
        fail(ReasonCode::malformed_packet, "variable byte integer not in its shortest form");
      }
      return;
    }
  }
  fail(ReasonCode::malformed_packet, "variable byte integer longer than four bytes");
}

void WireReader::utf8_string(std::string& value, std::string_view what) {
  binary_data(value, what);
  if (!failed() && !is_mqtt_utf8(value)) {
    fail(ReasonCode::malformed_packet,
         fmt::format("the {} is not well-formed UTF-8, or holds U+0000 or a surrogate", what));
  }
}

void WireReader::binary_data(std::string& value, std::string_view what) {
  uint16_t length = 0;
  two_byte_integer(length);
  std::string_view content;
  bytes(length, content, what);
  if (!failed()) value.assign(content);
}

void WireReader::bytes(size_t size, std::string_view& value, std::string_view what) {
  if (!have(size, what)) return;
  value = rest_.substr(0, size);
  rest_.remove_prefix(size);
}

std::string_view WireReader::take_rest() {
  return std::exchange(rest_, std::string_view());
}

void WireReader::fail(ReasonCode reason, std::string message) {
  if (!error_) error_ = DecodeError{reason, std::move(message)};
}

void WireWriter::byte(uint8_t value) {
  out_.push_back(static_cast<char>(value));
}

void WireWriter::two_byte_integer(uint16_t value) {
  byte(static_cast<uint8_t>(value >> 8));
  byte(static_cast<uint8_t>(value));
}

void WireWriter::four_byte_integer(uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) byte(static_cast<uint8_t>(value >> shift));
}

void WireWriter::variable_byte_integer(uint32_t value) {
  if (value > kMaxVariableByteInteger) {
    throw std::length_error("MQTT variable byte integer above 268,435,455");
  }
  do {
    uint8_t digit = value & 0x7F;
    value >>= 7;
    if (value > 0) digit |= 0x80;
    byte(digit);
  } while (value > 0);
}

void WireWriter::utf8_string(std::string_view value) {
  if (value.size() > 0xFFFF) throw std::length_error("MQTT string longer than 65,535 bytes");
  two_byte_integer(static_cast<uint16_t>(value.size()));
  raw(value);
}

size_t variable_byte_integer_size(uint32_t value) {
  if (value < 128) return 1;
  if (value < 16'384) return 2;
  if (value < 2'097'152) return 3;
  return 4;
}

}  // namespace herald::mqtt
