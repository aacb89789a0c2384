// Helpers shared by the MQTT codec tests: hex test vectors and one-shot decoding.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>

#include "mqtt/packet.h"
#include "mqtt/packet_decoder.h"

namespace herald::mqtt::testing {

// "30 0E 0005 746F" → bytes; spaces are ignored, as in the Mosquitto test data.
inline std::string from_hex(std::string_view hex) {
  std::string bytes;
  int high = -1;
  for (const char c : hex) {
    if (c == ' ') continue;
    const int digit = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
    if (high < 0) {
      high = digit;
    } else {
      bytes.push_back(static_cast<char>(high * 16 + digit));
      high = -1;
    }
  }
  return bytes;
}

inline std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string hex;
  for (const char c : bytes) {
    hex += kDigits[static_cast<unsigned char>(c) >> 4];
    hex += kDigits[static_cast<unsigned char>(c) & 0xF];
  }
  return hex;
}

// Decodes `bytes` as exactly one packet from `sender`, the decoder already told `version`
// unless it is unset.
inline DecodeResult decode_one(std::string_view bytes, std::optional<ProtocolVersion> version,
                               Sender sender = Sender::client, DecoderLimits limits = {}) {
  PacketDecoder decoder(sender, limits);
  if (version) decoder.set_version(*version);
  decoder.feed(bytes);
  return decoder.next();
}

inline std::string describe(const DecodeResult& result) {
  if (std::holds_alternative<NeedMore>(result)) return "need more";
  if (const auto* error = std::get_if<DecodeError>(&result)) {
    return "error 0x" + to_hex(std::string(1, static_cast<char>(error->reason))) + ": " +
           error->message;
  }
  return std::string(to_string(packet_type(std::get<Packet>(result))));
}

}  // namespace herald::mqtt::testing
