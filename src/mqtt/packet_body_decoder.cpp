#include "mqtt/packet_body_decoder.h"

#include <fmt/format.h>

#include <string>
#include <utility>

#include "mqtt/properties.h"
#include "mqtt/topic.h"
#include "mqtt/utf8.h"
#include "mqtt/wire.h"

namespace herald::mqtt {
namespace {

// What a decoder function needs besides the body.
struct Context {
  uint8_t flags;
  Sender sender;
  ProtocolVersion version;
  const DecoderLimits& limits;

  bool v5() const { return version == ProtocolVersion::v5; }
};

void check_topic_name(WireReader& reader, std::string_view name, const TopicLimits& limits,
                      std::string_view what) {
  const TopicError error = mqtt::check_topic_name(name, limits);
  if (error == TopicError::none || reader.failed()) return;
  // Over herald's own limits the name is well-formed but refused; anything else breaks
  // MQTT 5 4.7 and makes the packet malformed.
  const bool over_limit = error == TopicError::too_long || error == TopicError::too_many_levels;
  reader.fail(over_limit ? ReasonCode::topic_name_invalid : ReasonCode::malformed_packet,
              fmt::format("{}: {}", what, to_string(error)));
}

void check_topic_filter(WireReader& reader, std::string_view filter, const TopicLimits& limits) {
  const TopicError error = mqtt::check_topic_filter(filter, limits);
  if (error == TopicError::none || reader.failed()) return;
  ReasonCode reason = ReasonCode::malformed_packet;
  if (error == TopicError::too_long || error == TopicError::too_many_levels) {
    reason = ReasonCode::topic_filter_invalid;
  } else if (error == TopicError::bad_shared_subscription) {
    // MQTT 5 4.8.2 gives the share name's rules, not the packet's format.
    reason = ReasonCode::protocol_error;
  }
  reader.fail(reason, fmt::format("topic filter: {}", to_string(error)));
}

void packet_identifier(WireReader& reader, uint16_t& packet_id) {
  reader.two_byte_integer(packet_id);
  // MQTT 5 2.2.1 [MQTT-2.2.1-3], MQTT 3.1.1 [MQTT-2.3.1-1]: a non-zero identifier.
  if (!reader.failed() && packet_id == 0) {
    reader.fail(ReasonCode::protocol_error, "packet identifier 0");
  }
}

void expect_end(WireReader& reader) {
  if (!reader.failed() && !reader.empty()) {
    reader.fail(
        ReasonCode::malformed_packet,
        fmt::format("the packet goes on after its content ({} more bytes)", reader.remaining()));
  }
}

template <typename T>
std::variant<Packet, DecodeError> finish(WireReader& reader, T&& packet) {
  expect_end(reader);
  if (reader.failed()) return *reader.error();
  return Packet(std::forward<T>(packet));
}

// A reason code byte that must be one `type` allows in MQTT 5.
void reason_code(WireReader& reader, PacketType type, ReasonCode& reason) {
  uint8_t byte = 0;
  reader.byte(byte);
  reason = static_cast<ReasonCode>(byte);
  if (!reader.failed() && !reason_code_allowed(type, reason)) {
    // E.g. MQTT 5 [MQTT-3.4.2-1]: the sender "MUST use one of the PUBACK Reason Codes".
    reader.fail(ReasonCode::protocol_error,
                fmt::format("reason code 0x{:02X} is not one {} may carry", byte, to_string(type)));
  }
}

// MQTT 5 1.5.4 lets a receiver refuse control characters; in a client identifier or a user
// name they would reach herald's log lines and an operator's terminal.
void refuse_control_characters(WireReader& reader, std::string_view text, std::string_view what) {
  if (!reader.failed() && has_discouraged_code_points(text)) {
    reader.fail(ReasonCode::malformed_packet, std::string(what) + " with control characters");
  }
}

// MQTT 5 3.1 / MQTT 3.1.1 3.1.
std::variant<Packet, DecodeError> decode_connect(WireReader& reader, const DecoderLimits& limits) {
  std::string protocol_name;
  uint8_t level = 0;
  reader.utf8_string(protocol_name, "protocol name");
  reader.byte(level);
  if (reader.failed()) return *reader.error();
  // MQTT 5 3.1.2.1 / 3.1.2.2: "MQTT" with level 5 or 4; MQTT 3.1 said "MQIsdp" and level 3.
  if (protocol_name != "MQTT" && protocol_name != "MQIsdp") {
    // Not quoted in the message: it is the peer's text, up to 65,535 bytes of it.
    return DecodeError{ReasonCode::malformed_packet, "protocol name is not \"MQTT\""};
  }
  if (protocol_name == "MQIsdp") {
    return DecodeError{ReasonCode::unsupported_protocol_version,
                       "MQTT 3.1 (\"MQIsdp\") is not supported; use MQTT 3.1.1 or 5"};
  }
  if (level != 4 && level != 5) {
    return DecodeError{ReasonCode::unsupported_protocol_version,
                       fmt::format("protocol level {} is not 4 (MQTT 3.1.1) or 5 (MQTT 5)", level)};
  }
  Connect connect;
  connect.version = static_cast<ProtocolVersion>(level);
  const bool v5 = connect.version == ProtocolVersion::v5;
  uint8_t flags = 0;
  reader.byte(flags);
  reader.two_byte_integer(connect.keep_alive);
  if (reader.failed()) return *reader.error();
  const bool username = flags & 0x80, password = flags & 0x40, will_retain = flags & 0x20;
  const uint8_t will_qos = (flags >> 3) & 3;
  const bool will = flags & 0x04;
  connect.clean_start = flags & 0x02;
  // 3.1.2.3 [MQTT-3.1.2-3]: the reserved flag is 0.
  if (flags & 0x01) return DecodeError{ReasonCode::malformed_packet, "CONNECT reserved flag set"};
  // 3.1.2.6, 3.1.2.7 [MQTT-3.1.2-11], [MQTT-3.1.2-13] (3.1.1: -13, -15): no will, no QoS or
  // retain for it; [MQTT-3.1.2-12] (3.1.1: -14): QoS 3 is not one.
  if (!will && (will_qos != 0 || will_retain)) {
    return DecodeError{ReasonCode::malformed_packet, "will QoS or retain set without a will"};
  }
  if (will_qos == 3) return DecodeError{ReasonCode::malformed_packet, "will QoS 3"};
  // MQTT 3.1.1 3.1.2.9 [MQTT-3.1.2-22]: no password without a user name (MQTT 5 allows it).
  if (!v5 && password && !username) {
    return DecodeError{ReasonCode::malformed_packet, "password without a user name"};
  }
  if (v5) read_properties(reader, PropertyContext::connect, connect.properties);
  // 3.1.3.1 [MQTT-3.1.3-4]: the client identifier is a UTF-8 string.
  reader.utf8_string(connect.client_id, "client identifier");
  refuse_control_characters(reader, connect.client_id, "client identifier");
  if (will) {
    Will& w = connect.will.emplace();
    w.qos = static_cast<QoS>(will_qos);
    w.retain = will_retain;
    if (v5) read_properties(reader, PropertyContext::will, w.properties);
    reader.utf8_string(w.topic, "will topic");
    check_topic_name(reader, w.topic, limits.topic, "will topic");
    reader.binary_data(w.payload, "will payload");
  }
  if (username) {
    reader.utf8_string(connect.username.emplace(), "user name");
    refuse_control_characters(reader, *connect.username, "user name");
  }
  if (password) reader.binary_data(connect.password.emplace(), "password");
  return finish(reader, std::move(connect));
}

// MQTT 5 3.2 / MQTT 3.1.1 3.2.
std::variant<Packet, DecodeError> decode_connack(WireReader& reader, const Context& context) {
  Connack connack;
  uint8_t acknowledge_flags = 0;
  reader.byte(acknowledge_flags);
  // 3.2.2.1 [MQTT-3.2.2-1]: bits 7-1 are reserved and 0.
  if (acknowledge_flags & 0xFE) {
    reader.fail(ReasonCode::malformed_packet, "CONNACK reserved flags set");
  }
  connack.session_present = acknowledge_flags & 0x01;
  if (context.v5()) {
    reason_code(reader, PacketType::connack, connack.reason);
    read_properties(reader, PropertyContext::connack, connack.properties);
  } else {
    // MQTT 3.1.1 3.2.2.3: return codes 0-5, each one of the MQTT 5 reason codes.
    constexpr ReasonCode kReturnCodes[] = {
        ReasonCode::success,
        ReasonCode::unsupported_protocol_version,
        ReasonCode::client_identifier_not_valid,
        ReasonCode::server_unavailable,
        ReasonCode::bad_user_name_or_password,
        ReasonCode::not_authorized,
    };
    uint8_t return_code = 0;
    reader.byte(return_code);
    if (!reader.failed() && return_code > 5) {
      reader.fail(ReasonCode::protocol_error,
                  fmt::format("CONNACK return code {} is reserved", return_code));
    }
    if (!reader.failed()) connack.reason = kReturnCodes[return_code];
  }
  // MQTT 5 [MQTT-3.2.2-6], MQTT 3.1.1 [MQTT-3.2.2-4]: no session on a refusal.
  if (!reader.failed() && connack.session_present && is_failure(connack.reason)) {
    reader.fail(ReasonCode::protocol_error, "session present on a refused connection");
  }
  return finish(reader, std::move(connack));
}

// MQTT 5 3.3 / MQTT 3.1.1 3.3.
std::variant<Packet, DecodeError> decode_publish(WireReader& reader, const Context& context) {
  Publish publish;
  publish.dup = context.flags & 0x08;
  const uint8_t qos = (context.flags >> 1) & 3;
  publish.retain = context.flags & 0x01;
  // 3.3.1.2 [MQTT-3.3.1-4]: QoS 3 is not one; 3.3.1.1 [MQTT-3.3.1-2]: no DUP at QoS 0.
  if (qos == 3) return DecodeError{ReasonCode::malformed_packet, "PUBLISH with QoS 3"};
  if (publish.dup && qos == 0) {
    return DecodeError{ReasonCode::malformed_packet, "PUBLISH with DUP set at QoS 0"};
  }
  publish.qos = static_cast<QoS>(qos);
  reader.utf8_string(publish.topic, "topic name");
  if (qos > 0) packet_identifier(reader, publish.packet_id);
  if (context.v5()) read_properties(reader, PropertyContext::publish, publish.properties);
  if (reader.failed()) return *reader.error();
  // MQTT 5 3.3.4 [MQTT-3.3.4-6]: subscription identifiers go from the server only.
  if (context.sender == Sender::client && !publish.properties.subscription_identifiers.empty()) {
    return DecodeError{ReasonCode::protocol_error, "subscription identifier in a client's PUBLISH"};
  }
  // MQTT 5 3.3.2.1: an empty topic name stands for the topic alias, so needs one; 3.1.1
  // 4.7.3 [MQTT-4.7.3-1]: a topic name is never empty.
  if (publish.topic.empty()) {
    if (!context.v5()) return DecodeError{ReasonCode::malformed_packet, "empty topic name"};
    if (!publish.properties.topic_alias) {
      return DecodeError{ReasonCode::protocol_error, "empty topic name without a topic alias"};
    }
  } else {
    check_topic_name(reader, publish.topic, context.limits.topic, "topic name");
  }
  // MQTT 5 3.3.2.3.5 [MQTT-3.3.2-14]: the response topic is a topic name.
  if (const auto& response = publish.properties.response_topic;
      response && !reader.failed() &&
      mqtt::check_topic_name(*response, context.limits.topic) != TopicError::none) {
    reader.fail(ReasonCode::protocol_error, "response topic is not a valid topic name");
  }
  publish.payload = std::string(reader.take_rest());
  return finish(reader, std::move(publish));
}

// MQTT 5 3.4-3.7: packet identifier, then optionally a reason code and properties. In
// MQTT 3.1.1 only the identifier.
template <typename Acknowledgement>
std::variant<Packet, DecodeError> decode_acknowledgement(WireReader& reader, const Context& context,
                                                         PacketType type,
                                                         PropertyContext properties) {
  Acknowledgement acknowledgement;
  packet_identifier(reader, acknowledgement.packet_id);
  if (context.v5()) {
    // 3.4.2.1: "If the Remaining Length is 2, there is no Reason Code and the value of
    // 0x00 (Success) is used"; 3.4.2.2.1: without properties, the length may be omitted.
    if (!reader.empty()) reason_code(reader, type, acknowledgement.reason);
    if (!reader.empty()) read_properties(reader, properties, acknowledgement.properties);
  }
  return finish(reader, std::move(acknowledgement));
}

// MQTT 5 3.8.3.1 / MQTT 3.1.1 3.8.3.1: the options byte after each filter.
void subscription_options(WireReader& reader, const Context& context,
                          SubscriptionOptions& options) {
  uint8_t byte = 0;
  reader.byte(byte);
  if (reader.failed()) return;
  // 3.1.1 [MQTT-3-8.3-4]: bits 7-2 are reserved; MQTT 5 [MQTT-3.8.3-5]: bits 7-6.
  const uint8_t reserved = context.v5() ? 0xC0 : 0xFC;
  if (byte & reserved) {
    return reader.fail(ReasonCode::malformed_packet, "subscription options reserved bits set");
  }
  if ((byte & 3) == 3) return reader.fail(ReasonCode::malformed_packet, "subscription QoS 3");
  options.max_qos = static_cast<QoS>(byte & 3);
  options.no_local = byte & 0x04;
  options.retain_as_published = byte & 0x08;
  const uint8_t retain_handling = (byte >> 4) & 3;
  // 3.8.3.1: "It is a Protocol Error to send a Retain Handling value of 3."
  if (retain_handling == 3) return reader.fail(ReasonCode::protocol_error, "retain handling 3");
  options.retain_handling = static_cast<RetainHandling>(retain_handling);
}

// MQTT 5 3.8 / MQTT 3.1.1 3.8.
std::variant<Packet, DecodeError> decode_subscribe(WireReader& reader, const Context& context) {
  Subscribe subscribe;
  packet_identifier(reader, subscribe.packet_id);
  if (context.v5()) {
    Properties properties;
    read_properties(reader, PropertyContext::subscribe, properties);
    if (!properties.subscription_identifiers.empty()) {
      subscribe.subscription_identifier = properties.subscription_identifiers.front();
    }
    subscribe.user_properties = std::move(properties.user_properties);
  }
  while (!reader.empty() && !reader.failed()) {
    TopicSubscription& subscription = subscribe.subscriptions.emplace_back();
    reader.utf8_string(subscription.filter, "topic filter");
    check_topic_filter(reader, subscription.filter, context.limits.topic);
    subscription_options(reader, context, subscription.options);
    // MQTT 5 3.8.3.1 [MQTT-3.8.3-4]: no local on a shared subscription is a protocol error.
    if (!reader.failed() && subscription.options.no_local &&
        split_shared_filter(subscription.filter)) {
      reader.fail(ReasonCode::protocol_error, "no local set on a shared subscription");
    }
  }
  // MQTT 5 [MQTT-3.8.3-3], MQTT 3.1.1 [MQTT-3.8.3-3]: at least one filter.
  if (!reader.failed() && subscribe.subscriptions.empty()) {
    reader.fail(ReasonCode::protocol_error, "SUBSCRIBE without a topic filter");
  }
  return finish(reader, std::move(subscribe));
}

// MQTT 5 3.9 / MQTT 3.1.1 3.9.
std::variant<Packet, DecodeError> decode_suback(WireReader& reader, const Context& context) {
  Suback suback;
  packet_identifier(reader, suback.packet_id);
  if (context.v5()) read_properties(reader, PropertyContext::suback, suback.properties);
  while (!reader.empty() && !reader.failed()) {
    ReasonCode& reason = suback.reasons.emplace_back();
    reason_code(reader, PacketType::suback, reason);
    // MQTT 3.1.1 3.9.3: only 0x00-0x02 and 0x80.
    if (!context.v5() && !reader.failed() && static_cast<uint8_t>(reason) > 2 &&
        reason != ReasonCode::unspecified_error) {
      reader.fail(ReasonCode::protocol_error, "SUBACK return code is reserved in 3.1.1");
    }
  }
  if (!reader.failed() && suback.reasons.empty()) {
    reader.fail(ReasonCode::protocol_error, "SUBACK without a return code");
  }
  return finish(reader, std::move(suback));
}

// MQTT 5 3.10 / MQTT 3.1.1 3.10.
std::variant<Packet, DecodeError> decode_unsubscribe(WireReader& reader, const Context& context) {
  Unsubscribe unsubscribe;
  packet_identifier(reader, unsubscribe.packet_id);
  if (context.v5()) {
    Properties properties;
    read_properties(reader, PropertyContext::unsubscribe, properties);
    unsubscribe.user_properties = std::move(properties.user_properties);
  }
  while (!reader.empty() && !reader.failed()) {
    std::string& filter = unsubscribe.filters.emplace_back();
    reader.utf8_string(filter, "topic filter");
    check_topic_filter(reader, filter, context.limits.topic);
  }
  // MQTT 5 [MQTT-3.10.3-2], MQTT 3.1.1 [MQTT-3.10.3-2]: at least one filter.
  if (!reader.failed() && unsubscribe.filters.empty()) {
    reader.fail(ReasonCode::protocol_error, "UNSUBSCRIBE without a topic filter");
  }
  return finish(reader, std::move(unsubscribe));
}

// MQTT 5 3.11 / MQTT 3.1.1 3.11 (the identifier only).
std::variant<Packet, DecodeError> decode_unsuback(WireReader& reader, const Context& context) {
  Unsuback unsuback;
  packet_identifier(reader, unsuback.packet_id);
  if (context.v5()) {
    read_properties(reader, PropertyContext::unsuback, unsuback.properties);
    while (!reader.empty() && !reader.failed()) {
      reason_code(reader, PacketType::unsuback, unsuback.reasons.emplace_back());
    }
    if (!reader.failed() && unsuback.reasons.empty()) {
      reader.fail(ReasonCode::protocol_error, "UNSUBACK without a reason code");
    }
  }
  return finish(reader, std::move(unsuback));
}

// MQTT 5 3.14 / MQTT 3.1.1 3.14 (empty).
std::variant<Packet, DecodeError> decode_disconnect(WireReader& reader, const Context& context) {
  Disconnect disconnect;
  if (context.v5()) {
    // 3.14.2.1: with a remaining length of 0 the reason is 0x00 normal disconnection.
    if (!reader.empty()) reason_code(reader, PacketType::disconnect, disconnect.reason);
    if (!reader.empty()) {
      read_properties(reader, PropertyContext::disconnect, disconnect.properties);
    }
  }
  return finish(reader, std::move(disconnect));
}

// MQTT 5 3.15.
std::variant<Packet, DecodeError> decode_auth(WireReader& reader) {
  Auth auth;
  // 3.15.2.1: with a remaining length of 0 the reason is 0x00 success.
  if (!reader.empty()) reason_code(reader, PacketType::auth, auth.reason);
  if (!reader.empty()) read_properties(reader, PropertyContext::auth, auth.properties);
  return finish(reader, std::move(auth));
}

// MQTT 5 2.1.3 table 2-2 / MQTT 3.1.1 2.2.2: PUBLISH has its own flags; PUBREL, SUBSCRIBE
// and UNSUBSCRIBE must have 0b0010 [MQTT-3.6.1-1], [MQTT-3.8.1-1], [MQTT-3.10.1-1]; every
// other type 0 [MQTT-2.1.3-1] (3.1.1: [MQTT-2.2.2-1], [MQTT-2.2.2-2]).
bool flags_valid(PacketType type, uint8_t flags) {
  switch (type) {
    case PacketType::publish:
      return true;
    case PacketType::pubrel:
    case PacketType::subscribe:
    case PacketType::unsubscribe:
      return flags == 0b0010;
    default:
      return flags == 0;
  }
}

// MQTT 5 2.1.2 table 2-1: the direction of flow of each packet type.
bool sent_by(PacketType type, Sender sender) {
  switch (type) {
    case PacketType::connect:
    case PacketType::subscribe:
    case PacketType::unsubscribe:
    case PacketType::pingreq:
      return sender == Sender::client;
    case PacketType::connack:
    case PacketType::suback:
    case PacketType::unsuback:
    case PacketType::pingresp:
      return sender == Sender::server;
    default:
      return true;
  }
}

}  // namespace

std::variant<Packet, DecodeError> decode_body(FixedHeader header, std::string_view body,
                                              Sender sender, std::optional<ProtocolVersion> version,
                                              const DecoderLimits& limits) {
  // MQTT 5 2.1.2 table 2-1: 0 is reserved; so is 15 (AUTH) in MQTT 3.1.1.
  const bool v5 = version == ProtocolVersion::v5;
  if (header.type == 0 || (header.type == 15 && version && !v5)) {
    return DecodeError{ReasonCode::malformed_packet,
                       fmt::format("reserved packet type {}", header.type)};
  }
  const auto type = static_cast<PacketType>(header.type);
  if (!sent_by(type, sender)) {
    return DecodeError{ReasonCode::protocol_error,
                       fmt::format("{} from a {}", to_string(type),
                                   sender == Sender::client ? "client" : "server")};
  }
  if (!flags_valid(type, header.flags)) {
    return DecodeError{
        ReasonCode::malformed_packet,
        fmt::format("{} with fixed header flags 0x{:X}", to_string(type), header.flags)};
  }
  WireReader reader(body);
  if (type == PacketType::connect) return decode_connect(reader, limits);
  // MQTT 5 [MQTT-3.1.0-1]: CONNECT comes first, and says the version the rest is read in.
  if (!version) {
    return DecodeError{ReasonCode::protocol_error,
                       fmt::format("{} before CONNECT", to_string(type))};
  }
  const Context context{header.flags, sender, *version, limits};
  switch (type) {
    case PacketType::connect:
      break;
    case PacketType::connack:
      return decode_connack(reader, context);
    case PacketType::publish:
      return decode_publish(reader, context);
    case PacketType::puback:
      return decode_acknowledgement<Puback>(reader, context, type, PropertyContext::puback);
    case PacketType::pubrec:
      return decode_acknowledgement<Pubrec>(reader, context, type, PropertyContext::pubrec);
    case PacketType::pubrel:
      return decode_acknowledgement<Pubrel>(reader, context, type, PropertyContext::pubrel);
    case PacketType::pubcomp:
      return decode_acknowledgement<Pubcomp>(reader, context, type, PropertyContext::pubcomp);
    case PacketType::subscribe:
      return decode_subscribe(reader, context);
    case PacketType::suback:
      return decode_suback(reader, context);
    case PacketType::unsubscribe:
      return decode_unsubscribe(reader, context);
    case PacketType::unsuback:
      return decode_unsuback(reader, context);
    case PacketType::pingreq:
      return finish(reader, Pingreq{});
    case PacketType::pingresp:
      return finish(reader, Pingresp{});
    case PacketType::disconnect:
      return decode_disconnect(reader, context);
    case PacketType::auth:
      return decode_auth(reader);
  }
  return DecodeError{ReasonCode::malformed_packet, "unknown packet type"};
}

}  // namespace herald::mqtt
