// Incremental framing and decoding of MQTT control packets (MQTT 5 section 2, MQTT 3.1.1
// section 2), sans I/O: the connection feeds the bytes it read, and takes packets out. Every
// packet-level rule of MQTT 5 sections 1.5, 2 and 3 and of MQTT 3.1.1 is checked here, so a
// packet that comes out is well-formed; whether it is allowed now (a second CONNECT, a
// PUBLISH over the receive maximum, an unknown topic alias) is the session's business.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "mqtt/packet.h"
#include "mqtt/topic.h"

namespace herald::mqtt {

struct DecoderLimits {
  // MQTT 5 3.1.2.11.4: the whole packet, fixed header included. Checked as soon as the
  // fixed header is complete, before any of the body is buffered.
  uint32_t max_packet_size = 1024 * 1024;
  // Applied to topic names (PUBLISH, will) and filters (SUBSCRIBE, UNSUBSCRIBE).
  TopicLimits topic;
};

// Who sent the packets a decoder reads: the client (herald is the server) or the server
// (herald, or a test, is the client). Some packets and properties only go one way.
enum class Sender { client, server };

// next() found no complete packet in what was fed.
struct NeedMore {
  bool operator==(const NeedMore&) const = default;
};

using DecodeResult = std::variant<NeedMore, Packet, DecodeError>;

// Not thread-safe: one decoder belongs to one connection. Work is linear in the input.
// Memory is what was fed and not yet taken: a caller that calls next() until NeedMore after
// each feed() holds less than max_packet_size plus one feed's bytes, however long the
// packet a peer announces.
class PacketDecoder {
 public:
  explicit PacketDecoder(Sender sender, DecoderLimits limits = {})
      : sender_(sender), limits_(limits) {}

  // The protocol version every packet after CONNECT is read in. The server's session sets
  // it from the CONNECT it accepted, a client from the CONNECT it sent. Until it is set,
  // only a CONNECT can be decoded: anything else is a protocol error [MQTT-3.1.0-1].
  void set_version(ProtocolVersion version) { version_ = version; }
  std::optional<ProtocolVersion> version() const { return version_; }

  // Appends bytes read from the connection. Ignored after an error.
  void feed(std::string_view bytes);

  // The next packet in what was fed, NeedMore when its bytes have not all come, or the
  // error that makes the rest unreadable. An error is final: next() gives it again and
  // decodes nothing more; the connection must be closed (after a DISCONNECT or CONNACK
  // with error.reason, in MQTT 5). The errors:
  //  - packet_too_large (0x95): the fixed header announces more than max_packet_size;
  //  - unsupported_protocol_version (0x84): a CONNECT for a level other than 4 or 5 (the
  //    session answers CONNACK 0x01 in 3.1.1 terms, MQTT 3.1.1 3.1.2.2);
  //  - topic_name_invalid (0x90) / topic_filter_invalid (0x8F): a topic over the limits;
  //  - protocol_error (0x82): a packet the sender never sends (CONNACK, SUBACK, UNSUBACK or
  //    PINGRESP from a client; CONNECT, SUBSCRIBE, UNSUBSCRIBE or PINGREQ from a server), a
  //    subscription identifier in a client's PUBLISH [MQTT-3.3.4-6], and the rest of what
  //    the spec calls a protocol error;
  //  - malformed_packet (0x81): everything else (see packet_body_decoder.h).
  DecodeResult next();

  // Bytes fed and not yet taken as packets.
  size_t buffered() const { return buffer_.size() - start_; }

 private:
  DecodeResult fail(DecodeError error);

  Sender sender_;
  DecoderLimits limits_;
  std::optional<ProtocolVersion> version_;
  std::string buffer_;
  size_t start_ = 0;  // where the next packet begins in buffer_
  std::optional<DecodeError> error_;
};

}  // namespace herald::mqtt
