#include "mqtt/packet_encoder.h"

#include <stdexcept>
#include <type_traits>

#include "mqtt/properties.h"
#include "mqtt/wire.h"

namespace herald::mqtt {
namespace {

// Builds one packet's body; packet() then puts the fixed header in front of it.
class Body {
 public:
  explicit Body(ProtocolVersion version) : version_(version), writer_(bytes_) {}

  bool v5() const { return version_ == ProtocolVersion::v5; }
  WireWriter& out() { return writer_; }

  // Properties exist only in MQTT 5.
  void properties(const Properties& properties) {
    if (v5()) write_properties(writer_, properties);
  }

  std::string packet(PacketType type, uint8_t flags) const {
    std::string packet;
    append_to(packet, type, flags, {});
    return packet;
  }

  // The packet, its body followed by `tail`, appended to `out`.
  void append_to(std::string& out, PacketType type, uint8_t flags, std::string_view tail) const {
    WireWriter header(out);
    header.byte(static_cast<uint8_t>((static_cast<uint8_t>(type) << 4) | flags));
    const size_t length = bytes_.size() + tail.size();
    if (length > kMaxVariableByteInteger) {
      throw std::length_error("MQTT packet body longer than 268,435,455 bytes");
    }
    header.variable_byte_integer(static_cast<uint32_t>(length));
    header.raw(bytes_);
    header.raw(tail);
  }

 private:
  ProtocolVersion version_;
  std::string bytes_;
  WireWriter writer_;
};

uint8_t byte_of(ReasonCode code) {
  return static_cast<uint8_t>(code);
}

bool is_empty(const Properties& properties) {
  return properties == Properties{};
}

std::string encode(const Connect& connect, ProtocolVersion) {
  Body body(connect.version);
  WireWriter& out = body.out();
  out.utf8_string("MQTT");
  out.byte(static_cast<uint8_t>(connect.version));
  uint8_t flags = connect.clean_start ? 0x02 : 0;
  if (connect.will) {
    flags |= 0x04 | static_cast<uint8_t>(static_cast<uint8_t>(connect.will->qos) << 3);
    if (connect.will->retain) flags |= 0x20;
  }
  if (connect.password) flags |= 0x40;
  if (connect.username) flags |= 0x80;
  out.byte(flags);
  out.two_byte_integer(connect.keep_alive);
  body.properties(connect.properties);
  out.utf8_string(connect.client_id);
  if (connect.will) {
    body.properties(connect.will->properties);
    out.utf8_string(connect.will->topic);
    out.binary_data(connect.will->payload);
  }
  if (connect.username) out.utf8_string(*connect.username);
  if (connect.password) out.binary_data(*connect.password);
  return body.packet(PacketType::connect, 0);
}

// MQTT 3.1.1 3.2.2.3: the return codes are a subset of the MQTT 5 reason codes.
uint8_t connack_return_code(ReasonCode reason) {
  switch (reason) {
    case ReasonCode::success:
      return 0;
    case ReasonCode::unsupported_protocol_version:
      return 1;
    case ReasonCode::client_identifier_not_valid:
      return 2;
    case ReasonCode::bad_user_name_or_password:
      return 4;
    case ReasonCode::not_authorized:
      return 5;
    default:
      return 3;  // server unavailable: the nearest 3.1.1 has to "refused for another reason"
  }
}

std::string encode(const Connack& connack, ProtocolVersion version) {
  Body body(version);
  body.out().byte(connack.session_present ? 1 : 0);
  body.out().byte(body.v5() ? byte_of(connack.reason) : connack_return_code(connack.reason));
  body.properties(connack.properties);
  return body.packet(PacketType::connack, 0);
}

std::string encode(const Publish& publish, ProtocolVersion version) {
  std::string packet;
  append_publish(packet, publish, publish.payload, version);
  return packet;
}

template <typename Acknowledgement>
std::string encode_acknowledgement(const Acknowledgement& acknowledgement, ProtocolVersion version,
                                   PacketType type, uint8_t flags) {
  Body body(version);
  body.out().two_byte_integer(acknowledgement.packet_id);
  const bool no_properties = is_empty(acknowledgement.properties);
  if (body.v5() && !(no_properties && acknowledgement.reason == ReasonCode::success)) {
    body.out().byte(byte_of(acknowledgement.reason));
    if (!no_properties) body.properties(acknowledgement.properties);
  }
  return body.packet(type, flags);
}

std::string encode(const Puback& puback, ProtocolVersion version) {
  return encode_acknowledgement(puback, version, PacketType::puback, 0);
}
std::string encode(const Pubrec& pubrec, ProtocolVersion version) {
  return encode_acknowledgement(pubrec, version, PacketType::pubrec, 0);
}
std::string encode(const Pubrel& pubrel, ProtocolVersion version) {
  return encode_acknowledgement(pubrel, version, PacketType::pubrel, 0b0010);
}
std::string encode(const Pubcomp& pubcomp, ProtocolVersion version) {
  return encode_acknowledgement(pubcomp, version, PacketType::pubcomp, 0);
}

uint8_t options_byte(const SubscriptionOptions& options, bool v5) {
  auto byte = static_cast<uint8_t>(options.max_qos);
  if (v5) {
    if (options.no_local) byte |= 0x04;
    if (options.retain_as_published) byte |= 0x08;
    byte |= static_cast<uint8_t>(static_cast<uint8_t>(options.retain_handling) << 4);
  }
  return byte;
}

std::string encode(const Subscribe& subscribe, ProtocolVersion version) {
  Body body(version);
  body.out().two_byte_integer(subscribe.packet_id);
  Properties properties;
  if (subscribe.subscription_identifier) {
    properties.subscription_identifiers.push_back(*subscribe.subscription_identifier);
  }
  properties.user_properties = subscribe.user_properties;
  body.properties(properties);
  for (const TopicSubscription& subscription : subscribe.subscriptions) {
    body.out().utf8_string(subscription.filter);
    body.out().byte(options_byte(subscription.options, body.v5()));
  }
  return body.packet(PacketType::subscribe, 0b0010);
}

std::string encode(const Suback& suback, ProtocolVersion version) {
  Body body(version);
  body.out().two_byte_integer(suback.packet_id);
  body.properties(suback.properties);
  for (const ReasonCode reason : suback.reasons) {
    // MQTT 3.1.1 3.9.3: 0x80 is its only failure.
    const bool v311_failure = !body.v5() && is_failure(reason);
    body.out().byte(v311_failure ? byte_of(ReasonCode::unspecified_error) : byte_of(reason));
  }
  return body.packet(PacketType::suback, 0);
}

std::string encode(const Unsubscribe& unsubscribe, ProtocolVersion version) {
  Body body(version);
  body.out().two_byte_integer(unsubscribe.packet_id);
  Properties properties;
  properties.user_properties = unsubscribe.user_properties;
  body.properties(properties);
  for (const std::string& filter : unsubscribe.filters) body.out().utf8_string(filter);
  return body.packet(PacketType::unsubscribe, 0b0010);
}

std::string encode(const Unsuback& unsuback, ProtocolVersion version) {
  Body body(version);
  body.out().two_byte_integer(unsuback.packet_id);
  if (body.v5()) {
    body.properties(unsuback.properties);
    for (const ReasonCode reason : unsuback.reasons) body.out().byte(byte_of(reason));
  }
  return body.packet(PacketType::unsuback, 0);
}

std::string encode(const Pingreq&, ProtocolVersion version) {
  return Body(version).packet(PacketType::pingreq, 0);
}
std::string encode(const Pingresp&, ProtocolVersion version) {
  return Body(version).packet(PacketType::pingresp, 0);
}

std::string encode(const Disconnect& disconnect, ProtocolVersion version) {
  Body body(version);
  const bool no_properties = is_empty(disconnect.properties);
  if (body.v5() && !(no_properties && disconnect.reason == ReasonCode::normal_disconnection)) {
    body.out().byte(byte_of(disconnect.reason));
    if (!no_properties) body.properties(disconnect.properties);
  }
  return body.packet(PacketType::disconnect, 0);
}

std::string encode(const Auth& auth, ProtocolVersion version) {
  if (version != ProtocolVersion::v5) throw std::invalid_argument("MQTT AUTH exists only in 5.0");
  Body body(version);
  if (!(is_empty(auth.properties) && auth.reason == ReasonCode::success)) {
    body.out().byte(byte_of(auth.reason));
    body.properties(auth.properties);
  }
  return body.packet(PacketType::auth, 0);
}

}  // namespace

void append_publish(std::string& out, const Publish& head, std::string_view payload,
                    ProtocolVersion version) {
  Body body(version);
  body.out().utf8_string(head.topic);
  if (head.qos != QoS::at_most_once) {
    if (head.packet_id == 0) throw std::invalid_argument("MQTT PUBLISH at QoS > 0 without id");
    body.out().two_byte_integer(head.packet_id);
  }
  body.properties(head.properties);
  const auto flags =
      static_cast<uint8_t>((head.dup ? 0x08 : 0) | (static_cast<uint8_t>(head.qos) << 1) |
                           (head.retain ? 0x01 : 0));
  body.append_to(out, PacketType::publish, flags, payload);
}

std::string encode_packet(const Packet& packet, ProtocolVersion version) {
  return std::visit([version](const auto& p) { return encode(p, version); }, packet);
}

}  // namespace herald::mqtt
