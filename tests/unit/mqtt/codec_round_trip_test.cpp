// Every packet type, encoded then decoded, comes back equal, in both protocol versions; and
// what 3.1.1 cannot say is left out the way packet_encoder.h says.
#include <gtest/gtest.h>

#include <vector>

#include "mqtt/packet_decoder.h"
#include "mqtt/packet_encoder.h"
#include "mqtt_test_support.h"

namespace herald::mqtt {
namespace {

using testing::decode_one;
using testing::describe;
using testing::to_hex;

// Which side sends a packet of this type; PUBLISH, the acknowledgements, DISCONNECT and
// AUTH go both ways and are checked from the server here.
Sender sender_of(const Packet& packet) {
  switch (packet_type(packet)) {
    case PacketType::connect:
    case PacketType::subscribe:
    case PacketType::unsubscribe:
    case PacketType::pingreq:
      return Sender::client;
    default:
      return Sender::server;
  }
}

void expect_round_trip(const Packet& packet, ProtocolVersion version) {
  const std::string bytes = encode_packet(packet, version);
  const DecodeResult result = decode_one(bytes, version, sender_of(packet));
  ASSERT_TRUE(std::holds_alternative<Packet>(result))
      << to_string(packet_type(packet)) << " " << to_hex(bytes) << ": " << describe(result);
  EXPECT_EQ(std::get<Packet>(result), packet) << to_hex(bytes);
}

Properties full_message_properties() {
  Properties p;
  p.payload_format_indicator = PayloadFormat::utf8;
  p.message_expiry_interval = 3600;
  p.content_type = "text/plain";
  p.response_topic = "replies/42";
  p.correlation_data = std::string("\x00\x01\xFF", 3);
  p.user_properties = {{"a", "1"}, {"a", "2"}, {"b", ""}};
  return p;
}

std::vector<Packet> v5_packets() {
  Connect connect;
  connect.clean_start = false;
  connect.keep_alive = 60;
  connect.client_id = "device-7";
  connect.username = "alice";
  connect.password = std::string("s\0cret", 6);
  connect.properties.session_expiry_interval = 86400;
  connect.properties.receive_maximum = 20;
  connect.properties.maximum_packet_size = 65536;
  connect.properties.topic_alias_maximum = 10;
  connect.properties.request_response_information = true;
  connect.properties.request_problem_information = false;
  connect.properties.authentication_method = "SCRAM-SHA-256";
  connect.properties.authentication_data = "client-first";
  connect.properties.user_properties = {{"site", "lab"}};
  Will will;
  will.topic = "devices/7/status";
  will.payload = "offline";
  will.qos = QoS::exactly_once;
  will.retain = true;
  will.properties = full_message_properties();
  will.properties.will_delay_interval = 30;
  connect.will = will;

  Connect minimal_connect;
  minimal_connect.client_id = "";
  minimal_connect.password = "password without a user name is fine in MQTT 5";

  Connack connack;
  connack.session_present = true;
  connack.properties.session_expiry_interval = 600;
  connack.properties.receive_maximum = 100;
  connack.properties.maximum_qos = QoS::at_least_once;
  connack.properties.retain_available = false;
  connack.properties.maximum_packet_size = 1048576;
  connack.properties.assigned_client_identifier = "herald-1";
  connack.properties.topic_alias_maximum = 16;
  connack.properties.reason_string = "welcome";
  connack.properties.wildcard_subscription_available = true;
  connack.properties.subscription_identifier_available = true;
  connack.properties.shared_subscription_available = false;
  connack.properties.server_keep_alive = 120;
  connack.properties.response_information = "replies/";
  connack.properties.server_reference = "other.example";
  connack.properties.authentication_method = "SCRAM-SHA-256";
  connack.properties.authentication_data = "server-final";
  Connack refused;
  refused.reason = ReasonCode::not_authorized;

  Publish publish;
  publish.qos = QoS::at_least_once;
  publish.dup = true;
  publish.retain = true;
  publish.topic = "sensors/kitchen/temperature";
  publish.packet_id = 65535;
  publish.properties = full_message_properties();
  publish.properties.topic_alias = 3;
  publish.properties.subscription_identifiers = {1, 268'435'455};
  publish.payload = std::string("21.5\0\xFF", 6);
  Publish aliased;
  aliased.properties.topic_alias = 3;
  aliased.payload = "";

  Puback puback{.packet_id = 1};
  Pubrec pubrec{.packet_id = 2, .reason = ReasonCode::no_matching_subscribers};
  Pubrel pubrel{.packet_id = 3, .reason = ReasonCode::packet_identifier_not_found};
  pubrel.properties.reason_string = "lost";
  Pubcomp pubcomp{.packet_id = 4};
  pubcomp.properties.user_properties = {{"k", "v"}};

  Subscribe subscribe;
  subscribe.packet_id = 10;
  subscribe.subscription_identifier = 5;
  subscribe.user_properties = {{"x", "y"}};
  subscribe.subscriptions = {
      {"sensors/#", {QoS::exactly_once, true, true, RetainHandling::do_not_send}},
      {"$share/workers/jobs/+",
       {QoS::at_least_once, false, false, RetainHandling::send_if_new_subscription}},
      {"a", {}},
  };
  Suback suback{.packet_id = 10,
                .reasons = {ReasonCode::granted_qos_2, ReasonCode::granted_qos_1,
                            ReasonCode::shared_subscriptions_not_supported}};
  suback.properties.reason_string = "partly";
  Unsubscribe unsubscribe{
      .packet_id = 11, .user_properties = {{"n", "m"}}, .filters = {"a/+", "#"}};
  Unsuback unsuback{.packet_id = 11,
                    .reasons = {ReasonCode::success, ReasonCode::no_subscription_existed}};

  Disconnect disconnect{.reason = ReasonCode::session_taken_over};
  disconnect.properties.reason_string = "another connection with this client id";
  disconnect.properties.server_reference = "elsewhere";
  Disconnect client_disconnect{.reason = ReasonCode::disconnect_with_will_message};
  client_disconnect.properties.session_expiry_interval = 0;
  Auth auth{.reason = ReasonCode::continue_authentication};
  auth.properties.authentication_method = "SCRAM-SHA-256";
  auth.properties.authentication_data = "server-first";

  return {connect,     minimal_connect,   connack,      refused,
          publish,     aliased,           puback,       pubrec,
          pubrel,      pubcomp,           subscribe,    suback,
          unsubscribe, unsuback,          Pingreq{},    Pingresp{},
          disconnect,  client_disconnect, Disconnect{}, auth,
          Auth{}};
}

std::vector<Packet> v311_packets() {
  Connect connect;
  connect.version = ProtocolVersion::v3_1_1;
  connect.keep_alive = 10;
  connect.client_id = "c1";
  connect.will = Will{.topic = "w", .payload = "gone", .qos = QoS::at_least_once, .retain = false};
  connect.username = "u";
  connect.password = "p";
  Connack connack{.session_present = true};
  Connack refused{.reason = ReasonCode::bad_user_name_or_password};
  Publish publish{.qos = QoS::exactly_once, .topic = "a/b", .packet_id = 7, .payload = "x"};
  Publish qos0{.retain = true, .topic = "a", .payload = ""};
  Subscribe subscribe{.packet_id = 1,
                      .subscriptions = {{"a/#", {.max_qos = QoS::at_least_once}}, {"+", {}}}};
  Suback suback{.packet_id = 1,
                .reasons = {ReasonCode::granted_qos_1, ReasonCode::unspecified_error}};
  Unsubscribe unsubscribe{.packet_id = 2, .filters = {"a/#"}};
  return {connect,
          connack,
          refused,
          publish,
          qos0,
          Puback{.packet_id = 1},
          Pubrec{.packet_id = 2},
          Pubrel{.packet_id = 3},
          Pubcomp{.packet_id = 4},
          subscribe,
          suback,
          unsubscribe,
          Unsuback{.packet_id = 2},
          Pingreq{},
          Pingresp{},
          Disconnect{}};
}

TEST(CodecRoundTrip, EveryMqtt5PacketComesBackEqual) {
  for (const Packet& packet : v5_packets()) expect_round_trip(packet, ProtocolVersion::v5);
}

TEST(CodecRoundTrip, EveryMqtt311PacketComesBackEqual) {
  for (const Packet& packet : v311_packets()) expect_round_trip(packet, ProtocolVersion::v3_1_1);
}

TEST(Encoder, Mqtt5AcknowledgementOfSuccessWithoutPropertiesIsTwoBytes) {
  EXPECT_EQ(to_hex(encode_packet(Puback{.packet_id = 0x1234}, ProtocolVersion::v5)), "40021234");
  EXPECT_EQ(to_hex(encode_packet(Pubrec{.packet_id = 1, .reason = ReasonCode::quota_exceeded},
                                 ProtocolVersion::v5)),
            "5003000197");
  EXPECT_EQ(to_hex(encode_packet(Disconnect{}, ProtocolVersion::v5)), "E000");
  EXPECT_EQ(to_hex(encode_packet(Disconnect{.reason = ReasonCode::malformed_packet},
                                 ProtocolVersion::v5)),
            "E00181");
  EXPECT_EQ(to_hex(encode_packet(Auth{}, ProtocolVersion::v5)), "F000");
}

TEST(Encoder, Mqtt311ConnackCarriesTheReturnCodeOfTheSameMeaning) {
  const auto connack = [](ReasonCode reason) {
    return to_hex(encode_packet(Connack{.reason = reason}, ProtocolVersion::v3_1_1));
  };
  EXPECT_EQ(connack(ReasonCode::success), "20020000");
  EXPECT_EQ(connack(ReasonCode::unsupported_protocol_version), "20020001");
  EXPECT_EQ(connack(ReasonCode::client_identifier_not_valid), "20020002");
  EXPECT_EQ(connack(ReasonCode::server_unavailable), "20020003");
  EXPECT_EQ(connack(ReasonCode::bad_user_name_or_password), "20020004");
  EXPECT_EQ(connack(ReasonCode::not_authorized), "20020005");
  EXPECT_EQ(connack(ReasonCode::banned), "20020003");
}

TEST(Encoder, Mqtt311LeavesOutPropertiesReasonsAndNewSubscriptionOptions) {
  Puback puback{.packet_id = 9, .reason = ReasonCode::quota_exceeded};
  puback.properties.reason_string = "full";
  EXPECT_EQ(to_hex(encode_packet(puback, ProtocolVersion::v3_1_1)), "40020009");
  Suback suback{.packet_id = 9, .reasons = {ReasonCode::granted_qos_0, ReasonCode::not_authorized}};
  EXPECT_EQ(to_hex(encode_packet(suback, ProtocolVersion::v3_1_1)),
            "9004000900"
            "80");
  Subscribe subscribe{
      .packet_id = 9,
      .subscriptions = {{"t", {QoS::at_least_once, true, true, RetainHandling::do_not_send}}}};
  EXPECT_EQ(to_hex(encode_packet(subscribe, ProtocolVersion::v3_1_1)), "8206000900017401");
  EXPECT_EQ(
      to_hex(encode_packet(Disconnect{.reason = ReasonCode::server_busy}, ProtocolVersion::v3_1_1)),
      "E000");
}

TEST(Encoder, UnrepresentablePacketsAreRefused) {
  EXPECT_THROW(encode_packet(Auth{}, ProtocolVersion::v3_1_1), std::invalid_argument);
  EXPECT_THROW(encode_packet(Publish{.qos = QoS::at_least_once, .topic = "t"}, ProtocolVersion::v5),
               std::invalid_argument);
  EXPECT_THROW(encode_packet(Publish{.topic = std::string(70000, 'a')}, ProtocolVersion::v5),
               std::length_error);
}

}  // namespace
}  // namespace herald::mqtt
