// The data representations of MQTT 5 section 1.5 (MQTT 3.1.1 1.5): big-endian integers,
// variable byte integers, length-prefixed UTF-8 strings and binary data. Shared by the
// decoder and the encoder; nothing here knows about packets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mqtt/packet.h"

namespace herald::mqtt {

// Reads one packet's bytes front to back. The first failure is kept and every later read
// then does nothing, so a decoder can read a whole section and check failed() once. What
// is read is only valid when failed() is false.
class WireReader {
 public:
  explicit WireReader(std::string_view bytes) : rest_(bytes) {}

  void byte(uint8_t& value);
  void two_byte_integer(uint16_t& value);
  void four_byte_integer(uint32_t& value);
  // MQTT 5 1.5.5: at most four bytes, in the fewest bytes that hold the value
  // [MQTT-1.5.5-1]; anything else is a malformed packet.
  void variable_byte_integer(uint32_t& value);
  // MQTT 5 1.5.4: a two-byte length, then UTF-8 that is_mqtt_utf8() accepts.
  void utf8_string(std::string& value, std::string_view what);
  // MQTT 5 1.5.6: a two-byte length, then that many bytes.
  void binary_data(std::string& value, std::string_view what);
  // Takes `size` bytes as they are (a property list, once its length is known).
  void bytes(size_t size, std::string_view& value, std::string_view what);

  // Everything not read yet (a PUBLISH payload), leaving nothing.
  std::string_view take_rest();

  size_t remaining() const { return rest_.size(); }
  bool empty() const { return rest_.empty(); }

  // Records a failure found by the caller; the first one wins.
  void fail(ReasonCode reason, std::string message);
  bool failed() const { return error_.has_value(); }
  const std::optional<DecodeError>& error() const { return error_; }

 private:
  bool have(size_t size, std::string_view what);

  std::string_view rest_;
  std::optional<DecodeError> error_;
};

// Appends to a string. Strings and binary data longer than 65,535 bytes and integers above
// kMaxVariableByteInteger cannot be represented: writing one throws std::length_error, since
// it is a bug in the caller, not something a peer can cause.
class WireWriter {
 public:
  explicit WireWriter(std::string& out) : out_(out) {}

  void byte(uint8_t value);
  void two_byte_integer(uint16_t value);
  void four_byte_integer(uint32_t value);
  void variable_byte_integer(uint32_t value);
  void utf8_string(std::string_view value);
  void binary_data(std::string_view value) { utf8_string(value); }
  void raw(std::string_view value) { out_.append(value); }

 private:
  std::string& out_;
};

// How many bytes variable_byte_integer() writes for `value` (1 to 4).
size_t variable_byte_integer_size(uint32_t value);

}  // namespace herald::mqtt
