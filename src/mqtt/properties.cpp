#include "mqtt/properties.h"

#include <fmt/format.h>

#include <bitset>
#include <cstdint>
#include <initializer_list>

namespace herald::mqtt {
namespace {

enum PropertyId : uint8_t {
  kPayloadFormatIndicator = 0x01,
  kMessageExpiryInterval = 0x02,
  kContentType = 0x03,
  kResponseTopic = 0x08,
  kCorrelationData = 0x09,
  kSubscriptionIdentifier = 0x0B,
  kSessionExpiryInterval = 0x11,
  kAssignedClientIdentifier = 0x12,
  kServerKeepAlive = 0x13,
  kAuthenticationMethod = 0x15,
  kAuthenticationData = 0x16,
  kRequestProblemInformation = 0x17,
  kWillDelayInterval = 0x18,
  kRequestResponseInformation = 0x19,
  kResponseInformation = 0x1A,
  kServerReference = 0x1C,
  kReasonString = 0x1F,
  kReceiveMaximum = 0x21,
  kTopicAliasMaximum = 0x22,
  kTopicAlias = 0x23,
  kMaximumQoS = 0x24,
  kRetainAvailable = 0x25,
  kUserProperty = 0x26,
  kMaximumPacketSize = 0x27,
  kWildcardSubscriptionAvailable = 0x28,
  kSubscriptionIdentifierAvailable = 0x29,
  kSharedSubscriptionAvailable = 0x2A,
};

using ContextSet = uint32_t;

constexpr ContextSet in(std::initializer_list<PropertyContext> contexts) {
  ContextSet set = 0;
  for (const PropertyContext context : contexts) set |= 1u << static_cast<unsigned>(context);
  return set;
}

using enum PropertyContext;
constexpr ContextSet kMessage = in({publish, will});
constexpr ContextSet kAcknowledgements =
    in({connack, puback, pubrec, pubrel, pubcomp, suback, unsuback, disconnect, auth});
constexpr ContextSet kEverywhere =
    in({connect, connack, publish, will, puback, pubrec, pubrel, pubcomp, subscribe, suback,
        unsubscribe, unsuback, disconnect, auth});

// MQTT 5 2.2.2.2 table 2-4: the packets each property may appear in.
ContextSet allowed_contexts(uint32_t id) {
  switch (id) {
    case kPayloadFormatIndicator:
    case kMessageExpiryInterval:
    case kContentType:
    case kResponseTopic:
    case kCorrelationData:
      return kMessage;
    case kSubscriptionIdentifier:
      return in({publish, subscribe});
    case kSessionExpiryInterval:
      return in({connect, connack, disconnect});
    case kAssignedClientIdentifier:
    case kServerKeepAlive:
    case kResponseInformation:
    case kMaximumQoS:
    case kRetainAvailable:
    case kWildcardSubscriptionAvailable:
    case kSubscriptionIdentifierAvailable:
    case kSharedSubscriptionAvailable:
      return in({connack});
    case kAuthenticationMethod:
    case kAuthenticationData:
      return in({connect, connack, auth});
    case kRequestProblemInformation:
    case kRequestResponseInformation:
      return in({connect});
    case kWillDelayInterval:
      return in({will});
    case kServerReference:
      return in({connack, disconnect});
    case kReasonString:
      return kAcknowledgements;
    case kReceiveMaximum:
    case kTopicAliasMaximum:
    case kMaximumPacketSize:
      return in({connect, connack});
    case kTopicAlias:
      return in({publish});
    case kUserProperty:
      return kEverywhere;
  }
  return 0;
}

bool may_repeat(uint32_t id, PropertyContext context) {
  return id == kUserProperty || (id == kSubscriptionIdentifier && context == publish);
}

// Reads one property's value into its field. `id` is known and allowed here.
void read_value(WireReader& reader, uint32_t id, Properties& properties) {
  uint8_t byte = 0;
  uint16_t two = 0;
  uint32_t four = 0;
  std::string text;
  // A byte property that is a flag (0 or 1); anything else is a protocol error.
  const auto flag = [&](std::optional<bool>& field, std::string_view name) {
    reader.byte(byte);
    if (byte > 1) {
      reader.fail(ReasonCode::protocol_error, fmt::format("{} is {}, not 0 or 1", name, byte));
    }
    field = byte == 1;
  };
  const auto nonzero = [&](std::optional<uint16_t>& field, std::string_view name) {
    reader.two_byte_integer(two);
    if (two == 0) reader.fail(ReasonCode::protocol_error, fmt::format("{} of 0", name));
    field = two;
  };
  const auto string = [&](std::optional<std::string>& field, std::string_view name) {
    reader.utf8_string(text, name);
    field = std::move(text);
  };
  const auto binary = [&](std::optional<std::string>& field, std::string_view name) {
    reader.binary_data(text, name);
    field = std::move(text);
  };
  const auto integer = [&](std::optional<uint32_t>& field) {
    reader.four_byte_integer(four);
    field = four;
  };
  switch (id) {
    case kPayloadFormatIndicator:
      reader.byte(byte);
      if (byte > 1) reader.fail(ReasonCode::protocol_error, "payload format indicator not 0 or 1");
      properties.payload_format_indicator = static_cast<PayloadFormat>(byte);
      return;
    case kMessageExpiryInterval:
      return integer(properties.message_expiry_interval);
    case kContentType:
      return string(properties.content_type, "content type");
    case kResponseTopic:
      return string(properties.response_topic, "response topic");
    case kCorrelationData:
      return binary(properties.correlation_data, "correlation data");
    case kSubscriptionIdentifier:
      reader.variable_byte_integer(four);
      // MQTT 5 3.8.2.1.2: "It is a Protocol Error if the Subscription Identifier has a value
      // of 0."
      if (four == 0) reader.fail(ReasonCode::protocol_error, "subscription identifier of 0");
      properties.subscription_identifiers.push_back(four);
      return;
    case kSessionExpiryInterval:
      return integer(properties.session_expiry_interval);
    case kAssignedClientIdentifier:
      return string(properties.assigned_client_identifier, "assigned client identifier");
    case kServerKeepAlive:
      reader.two_byte_integer(two);
      properties.server_keep_alive = two;
      return;
    case kAuthenticationMethod:
      return string(properties.authentication_method, "authentication method");
    case kAuthenticationData:
      return binary(properties.authentication_data, "authentication data");
    case kRequestProblemInformation:
      return flag(properties.request_problem_information, "request problem information");
    case kWillDelayInterval:
      return integer(properties.will_delay_interval);
    case kRequestResponseInformation:
      return flag(properties.request_response_information, "request response information");
    case kResponseInformation:
      return string(properties.response_information, "response information");
    case kServerReference:
      return string(properties.server_reference, "server reference");
    case kReasonString:
      return string(properties.reason_string, "reason string");
    case kReceiveMaximum:
      return nonzero(properties.receive_maximum, "receive maximum");
    case kTopicAliasMaximum:
      reader.two_byte_integer(two);
      properties.topic_alias_maximum = two;
      return;
    case kTopicAlias:
      return nonzero(properties.topic_alias, "topic alias");
    case kMaximumQoS:
      reader.byte(byte);
      if (byte > 1) reader.fail(ReasonCode::protocol_error, "maximum QoS not 0 or 1");
      properties.maximum_qos = static_cast<QoS>(byte);
      return;
    case kRetainAvailable:
      return flag(properties.retain_available, "retain available");
    case kUserProperty: {
      std::string name;
      reader.utf8_string(name, "user property name");
      reader.utf8_string(text, "user property value");
      properties.user_properties.emplace_back(std::move(name), std::move(text));
      return;
    }
    case kMaximumPacketSize:
      reader.four_byte_integer(four);
      if (four == 0) reader.fail(ReasonCode::protocol_error, "maximum packet size of 0");
      properties.maximum_packet_size = four;
      return;
    case kWildcardSubscriptionAvailable:
      return flag(properties.wildcard_subscription_available, "wildcard subscription available");
    case kSubscriptionIdentifierAvailable:
      return flag(properties.subscription_identifier_available,
                  "subscription identifier available");
    case kSharedSubscriptionAvailable:
      return flag(properties.shared_subscription_available, "shared subscription available");
  }
}

std::string_view context_name(PropertyContext context) {
  switch (context) {
    case connect:
      return "CONNECT";
    case connack:
      return "CONNACK";
    case publish:
      return "PUBLISH";
    case will:
      return "will properties";
    case puback:
      return "PUBACK";
    case pubrec:
      return "PUBREC";
    case pubrel:
      return "PUBREL";
    case pubcomp:
      return "PUBCOMP";
    case subscribe:
      return "SUBSCRIBE";
    case suback:
      return "SUBACK";
    case unsubscribe:
      return "UNSUBSCRIBE";
    case unsuback:
      return "UNSUBACK";
    case disconnect:
      return "DISCONNECT";
    case auth:
      return "AUTH";
  }
  return "packet";
}

}  // namespace

void read_properties(WireReader& reader, PropertyContext context, Properties& properties) {
  uint32_t length = 0;
  reader.variable_byte_integer(length);
  std::string_view bytes;
  reader.bytes(length, bytes, "property list");
  if (reader.failed()) return;
  WireReader list(bytes);
  std::bitset<256> seen;
  while (!list.empty() && !list.failed()) {
    uint32_t id = 0;
    list.variable_byte_integer(id);
    if (list.failed()) break;
    // Every id the spec defines fits in one byte, so a longer one is unknown too.
    const ContextSet allowed = id < 256 ? allowed_contexts(id) : 0;
    if ((allowed & in({context})) == 0) {
      // MQTT 5 2.2.2.2 defines each packet's properties; anything else is not that packet.
      list.fail(ReasonCode::malformed_packet,
                allowed == 0 ? fmt::format("unknown property 0x{:02X}", id)
                             : fmt::format("property 0x{:02X} is not allowed in {}", id,
                                           context_name(context)));
      break;
    }
    if (seen[id] && !may_repeat(id, context)) {
      list.fail(ReasonCode::protocol_error, fmt::format("property 0x{:02X} given twice", id));
      break;
    }
    seen[id] = true;
    read_value(list, id, properties);
  }
  // MQTT 5 3.1.2.11.10 and 3.2.2.3.18: authentication data belongs to a method.
  if (!list.failed() && properties.authentication_data && !properties.authentication_method) {
    list.fail(ReasonCode::protocol_error, "authentication data without authentication method");
  }
  if (list.failed()) reader.fail(list.error()->reason, list.error()->message);
}

void write_properties(WireWriter& writer, const Properties& p) {
  std::string list;
  WireWriter out(list);
  const auto byte = [&](uint8_t id, const auto& field) {
    if (field) out.byte(id), out.byte(static_cast<uint8_t>(*field));
  };
  const auto two = [&](uint8_t id, const std::optional<uint16_t>& field) {
    if (field) out.byte(id), out.two_byte_integer(*field);
  };
  const auto four = [&](uint8_t id, const std::optional<uint32_t>& field) {
    if (field) out.byte(id), out.four_byte_integer(*field);
  };
  const auto string = [&](uint8_t id, const std::optional<std::string>& field) {
    if (field) out.byte(id), out.utf8_string(*field);
  };
  byte(kPayloadFormatIndicator, p.payload_format_indicator);
  four(kMessageExpiryInterval, p.message_expiry_interval);
  string(kContentType, p.content_type);
  string(kResponseTopic, p.response_topic);
  string(kCorrelationData, p.correlation_data);
  for (const uint32_t identifier : p.subscription_identifiers) {
    out.byte(kSubscriptionIdentifier);
    out.variable_byte_integer(identifier);
  }
  four(kSessionExpiryInterval, p.session_expiry_interval);
  string(kAssignedClientIdentifier, p.assigned_client_identifier);
  two(kServerKeepAlive, p.server_keep_alive);
  string(kAuthenticationMethod, p.authentication_method);
  string(kAuthenticationData, p.authentication_data);
  byte(kRequestProblemInformation, p.request_problem_information);
  four(kWillDelayInterval, p.will_delay_interval);
  byte(kRequestResponseInformation, p.request_response_information);
  string(kResponseInformation, p.response_information);
  string(kServerReference, p.server_reference);
  string(kReasonString, p.reason_string);
  two(kReceiveMaximum, p.receive_maximum);
  two(kTopicAliasMaximum, p.topic_alias_maximum);
  two(kTopicAlias, p.topic_alias);
  byte(kMaximumQoS, p.maximum_qos);
  byte(kRetainAvailable, p.retain_available);
  for (const auto& [name, value] : p.user_properties) {
    out.byte(kUserProperty);
    out.utf8_string(name);
    out.utf8_string(value);
  }
  four(kMaximumPacketSize, p.maximum_packet_size);
  byte(kWildcardSubscriptionAvailable, p.wildcard_subscription_available);
  byte(kSubscriptionIdentifierAvailable, p.subscription_identifier_available);
  byte(kSharedSubscriptionAvailable, p.shared_subscription_available);
  writer.variable_byte_integer(static_cast<uint32_t>(list.size()));
  writer.raw(list);
}

}  // namespace herald::mqtt
