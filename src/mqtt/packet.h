// MQTT control packets as typed values, for both protocol versions herald speaks: 3.1.1
// (OASIS 2014, protocol level 4) and 5.0 (OASIS 2019, protocol level 5). The decoder
// (mqtt/packet_decoder.h) turns bytes into these; the encoder (mqtt/packet_encoder.h) turns
// them back. Only the wire format lives here: what a packet means to a session is decided
// above this layer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace herald::mqtt {

// MQTT 5 3.1.2.2 / MQTT 3.1.1 3.1.2.2: the protocol level byte of CONNECT. Level 3 (MQTT
// 3.1, protocol name "MQIsdp") is not spoken; a CONNECT asking for it is refused.
enum class ProtocolVersion : uint8_t { v3_1_1 = 4, v5 = 5 };

// MQTT 5 2.1.2, table 2-1.
enum class PacketType : uint8_t {
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  unsubscribe = 10,
  unsuback = 11,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
  auth = 15,  // MQTT 5 only; reserved in 3.1.1
};

std::string_view to_string(PacketType type);

enum class QoS : uint8_t { at_most_once = 0, at_least_once = 1, exactly_once = 2 };

// MQTT 5 2.4, table 2-6. Several meanings share a value (0x00 is success, normal
// disconnection and granted QoS 0); each packet's set is in reason_code_allowed().
enum class ReasonCode : uint8_t {
  success = 0x00,
  normal_disconnection = 0x00,
  granted_qos_0 = 0x00,
  granted_qos_1 = 0x01,
  granted_qos_2 = 0x02,
  disconnect_with_will_message = 0x04,
  no_matching_subscribers = 0x10,
  no_subscription_existed = 0x11,
  continue_authentication = 0x18,
  re_authenticate = 0x19,
  unspecified_error = 0x80,
  malformed_packet = 0x81,
  protocol_error = 0x82,
  implementation_specific_error = 0x83,
  unsupported_protocol_version = 0x84,
  client_identifier_not_valid = 0x85,
  bad_user_name_or_password = 0x86,
  not_authorized = 0x87,
  server_unavailable = 0x88,
  server_busy = 0x89,
  banned = 0x8A,
  server_shutting_down = 0x8B,
  bad_authentication_method = 0x8C,
  keep_alive_timeout = 0x8D,
  session_taken_over = 0x8E,
  topic_filter_invalid = 0x8F,
  topic_name_invalid = 0x90,
  packet_identifier_in_use = 0x91,
  packet_identifier_not_found = 0x92,
  receive_maximum_exceeded = 0x93,
  topic_alias_invalid = 0x94,
  packet_too_large = 0x95,
  message_rate_too_high = 0x96,
  quota_exceeded = 0x97,
  administrative_action = 0x98,
  payload_format_invalid = 0x99,
  retain_not_supported = 0x9A,
  qos_not_supported = 0x9B,
  use_another_server = 0x9C,
  server_moved = 0x9D,
  shared_subscriptions_not_supported = 0x9E,
  connection_rate_exceeded = 0x9F,
  maximum_connect_time = 0xA0,
  subscription_identifiers_not_supported = 0xA1,
  wildcard_subscriptions_not_supported = 0xA2,
};

// MQTT 5 2.4: a reason code below 0x80 reports success, from 0x80 a failure.
inline bool is_failure(ReasonCode code) {
  return static_cast<uint8_t>(code) >= 0x80;
}

// Whether MQTT 5 lets `code` appear in a packet of `type` (sections 3.2.2.2, 3.4.2.1,
// 3.5.2.1, 3.6.2.1, 3.7.2.1, 3.9.3, 3.11.3, 3.14.2.1, 3.15.2.1). False for packet types
// that carry no reason code.
bool reason_code_allowed(PacketType type, ReasonCode code);

// MQTT 5 3.3.2.3.2.
enum class PayloadFormat : uint8_t { unspecified_bytes = 0, utf8 = 1 };

using UserProperties = std::vector<std::pair<std::string, std::string>>;

// MQTT 5 2.2.2.2, table 2-4: one field per property. Which packet may carry which is
// checked by the decoder and is the encoder's caller's business. Always empty in 3.1.1,
// which has no properties. Binary data (correlation and authentication data) is kept as
// bytes in a std::string.
struct Properties {
  std::optional<PayloadFormat> payload_format_indicator;  // 0x01
  std::optional<uint32_t> message_expiry_interval;        // 0x02, seconds
  std::optional<std::string> content_type;                // 0x03
  std::optional<std::string> response_topic;              // 0x08
  std::optional<std::string> correlation_data;            // 0x09
  std::vector<uint32_t> subscription_identifiers;         // 0x0B, 1 .. 268,435,455
  std::optional<uint32_t> session_expiry_interval;        // 0x11, seconds
  std::optional<std::string> assigned_client_identifier;  // 0x12
  std::optional<uint16_t> server_keep_alive;              // 0x13, seconds
  std::optional<std::string> authentication_method;       // 0x15
  std::optional<std::string> authentication_data;         // 0x16
  std::optional<bool> request_problem_information;        // 0x17
  std::optional<uint32_t> will_delay_interval;            // 0x18, seconds
  std::optional<bool> request_response_information;       // 0x19
  std::optional<std::string> response_information;        // 0x1A
  std::optional<std::string> server_reference;            // 0x1C
  std::optional<std::string> reason_string;               // 0x1F
  std::optional<uint16_t> receive_maximum;                // 0x21, never 0
  std::optional<uint16_t> topic_alias_maximum;            // 0x22
  std::optional<uint16_t> topic_alias;                    // 0x23, never 0
  std::optional<QoS> maximum_qos;                         // 0x24, 0 or 1 only
  std::optional<bool> retain_available;                   // 0x25
  UserProperties user_properties;                         // 0x26, in order, repeats kept
  std::optional<uint32_t> maximum_packet_size;            // 0x27, never 0
  std::optional<bool> wildcard_subscription_available;    // 0x28
  std::optional<bool> subscription_identifier_available;  // 0x29
  std::optional<bool> shared_subscription_available;      // 0x2A

  bool operator==(const Properties&) const = default;
};

struct Will {
  std::string topic;
  std::string payload;  // bytes
  QoS qos = QoS::at_most_once;
  bool retain = false;
  Properties properties;  // MQTT 5 3.1.3.2: the will properties

  bool operator==(const Will&) const = default;
};

struct Connect {
  ProtocolVersion version = ProtocolVersion::v5;
  bool clean_start = true;  // "clean session" in 3.1.1
  uint16_t keep_alive = 0;  // seconds; 0 turns keep alive off
  std::string client_id;    // may be empty: the server then assigns one (or refuses, 3.1.1)
  std::optional<Will> will;
  std::optional<std::string> username;
  std::optional<std::string> password;  // bytes
  Properties properties;

  bool operator==(const Connect&) const = default;
};

// In 3.1.1 the return code (3.2.2.3) is carried as the ReasonCode of the same meaning:
// 0 success, 1 unsupported_protocol_version, 2 client_identifier_not_valid,
// 3 server_unavailable, 4 bad_user_name_or_password, 5 not_authorized. The encoder sends
// any other failure as 3 (server unavailable).
struct Connack {
  bool session_present = false;
  ReasonCode reason = ReasonCode::success;
  Properties properties;

  bool operator==(const Connack&) const = default;
};

struct Publish {
  bool dup = false;
  QoS qos = QoS::at_most_once;
  bool retain = false;
  std::string topic;       // empty only in MQTT 5 with a topic alias
  uint16_t packet_id = 0;  // 0 at QoS 0 (not on the wire), else 1 .. 65535
  Properties properties;
  std::string payload;  // bytes

  bool operator==(const Publish&) const = default;
};

// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape (MQTT 5 3.4-3.7); in 3.1.1 the reason
// is always success on the wire.
struct Puback {
  uint16_t packet_id = 0;
  ReasonCode reason = ReasonCode::success;
  Properties properties;

  bool operator==(const Puback&) const = default;
};
struct Pubrec {
  uint16_t packet_id = 0;
  ReasonCode reason = ReasonCode::success;
  Properties properties;

  bool operator==(const Pubrec&) const = default;
};
struct Pubrel {
  uint16_t packet_id = 0;
  ReasonCode reason = ReasonCode::success;
  Properties properties;

  bool operator==(const Pubrel&) const = default;
};
struct Pubcomp {
  uint16_t packet_id = 0;
  ReasonCode reason = ReasonCode::success;
  Properties properties;

  bool operator==(const Pubcomp&) const = default;
};

// MQTT 5 3.8.3.1: what the client sends stored retained messages for.
enum class RetainHandling : uint8_t {
  send_on_subscribe = 0,
  send_if_new_subscription = 1,
  do_not_send = 2,
};

// MQTT 5 3.8.3.1; in 3.1.1 only max_qos is on the wire, the rest keep their defaults.
struct SubscriptionOptions {
  QoS max_qos = QoS::at_most_once;
  bool no_local = false;
  bool retain_as_published = false;
  RetainHandling retain_handling = RetainHandling::send_on_subscribe;

  bool operator==(const SubscriptionOptions&) const = default;
};

struct TopicSubscription {
  std::string filter;  // as sent, $share/ prefix included (mqtt/topic.h parses it)
  SubscriptionOptions options;

  bool operator==(const TopicSubscription&) const = default;
};

// MQTT 5 3.8.2.1: SUBSCRIBE may carry only a subscription identifier and user properties.
struct Subscribe {
  uint16_t packet_id = 0;
  std::optional<uint32_t> subscription_identifier;
  UserProperties user_properties;
  std::vector<TopicSubscription> subscriptions;  // never empty (MQTT 5 3.8.3-3)

  bool operator==(const Subscribe&) const = default;
};

// One reason per subscription, in order. 3.1.1 return codes (3.9.3) are the granted QoS
// values 0-2 and 0x80 failure, which are the same bytes as the MQTT 5 codes; the encoder
// sends any other failure as 0x80 in 3.1.1.
struct Suback {
  uint16_t packet_id = 0;
  Properties properties;
  std::vector<ReasonCode> reasons;

  bool operator==(const Suback&) const = default;
};

// MQTT 5 3.10.2.1: UNSUBSCRIBE may carry only user properties.
struct Unsubscribe {
  uint16_t packet_id = 0;
  UserProperties user_properties;
  std::vector<std::string> filters;  // never empty (MQTT 5 3.10.3-2)

  bool operator==(const Unsubscribe&) const = default;
};

// 3.1.1's UNSUBACK carries no reasons (3.11.3): decoded, `reasons` is empty.
struct Unsuback {
  uint16_t packet_id = 0;
  Properties properties;
  std::vector<ReasonCode> reasons;

  bool operator==(const Unsuback&) const = default;
};

struct Pingreq {
  bool operator==(const Pingreq&) const = default;
};
struct Pingresp {
  bool operator==(const Pingresp&) const = default;
};

// In 3.1.1 DISCONNECT is client to server only and carries nothing (3.14).
struct Disconnect {
  ReasonCode reason = ReasonCode::normal_disconnection;
  Properties properties;  // session expiry interval, reason string, server reference, user

  bool operator==(const Disconnect&) const = default;
};

// MQTT 5 only (3.15).
struct Auth {
  ReasonCode reason = ReasonCode::success;
  Properties properties;

  bool operator==(const Auth&) const = default;
};

// One decoded control packet. The alternatives are in packet type order, so index() + 1 is
// the packet type (packet_type() says it by name).
using Packet = std::variant<Connect, Connack, Publish, Puback, Pubrec, Pubrel, Pubcomp, Subscribe,
                            Suback, Unsubscribe, Unsuback, Pingreq, Pingresp, Disconnect, Auth>;

inline PacketType packet_type(const Packet& packet) {
  return static_cast<PacketType>(packet.index() + 1);
}

// MQTT 5 2.2.2.2 / 1.5.5: the largest value a variable byte integer holds (four bytes).
inline constexpr uint32_t kMaxVariableByteInteger = 268'435'455;

// Why bytes were refused. `reason` is what an MQTT 5 server puts in the DISCONNECT (or the
// CONNACK, for a CONNECT) it closes the connection with; 3.1.1 has no such packet and simply
// closes. `message` says what was wrong, for the log.
struct DecodeError {
  ReasonCode reason = ReasonCode::malformed_packet;
  std::string message;

  bool operator==(const DecodeError&) const = default;
};

}  // namespace herald::mqtt
