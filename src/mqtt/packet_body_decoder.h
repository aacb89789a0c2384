// Decoding of one complete control packet, once the framer (mqtt/packet_decoder.h) has its
// fixed header and all of its body.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>

#include "mqtt/packet.h"
#include "mqtt/packet_decoder.h"

namespace herald::mqtt {

// The first byte of a packet, split (MQTT 5 2.1.1).
struct FixedHeader {
  uint8_t type = 0;   // 0 and, in 3.1.1, 15 are reserved
  uint8_t flags = 0;  // the low four bits
};

// Decodes `body` (the remaining length's bytes) as a packet of `header`'s type. `version`
// is unset only before CONNECT. Which code an error carries follows the spec's words: a
// "Malformed Packet" is 0x81, a "Protocol Error" 0x82; where the spec names neither (MQTT
// 3.1.1 has no reason codes), a break of the packet's format is 0x81 and a break of a rule
// on values is 0x82.
std::variant<Packet, DecodeError> decode_body(FixedHeader header, std::string_view body,
                                              Sender sender, std::optional<ProtocolVersion> version,
                                              const DecoderLimits& limits);

}  // namespace herald::mqtt
