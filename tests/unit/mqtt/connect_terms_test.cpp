#include "mqtt/connect_terms.h"

#include <gtest/gtest.h>

#include <string>

#include "mqtt/packet_decoder.h"
#include "mqtt/packet_encoder.h"

namespace herald::mqtt {
namespace {

using std::chrono::seconds;

Connect connect_v5(std::string client_id = "sensor-1", uint16_t keep_alive = 60) {
  Connect c;
  c.version = ProtocolVersion::v5;
  c.client_id = std::move(client_id);
  c.keep_alive = keep_alive;
  return c;
}

Connect connect_v311(std::string client_id = "sensor-1", uint16_t keep_alive = 60) {
  Connect c = connect_v5(std::move(client_id), keep_alive);
  c.version = ProtocolVersion::v3_1_1;
  return c;
}

const ServerTerms kServer;

// The CONNACK as the client reads it: encoded for the client's version and decoded back.
Connack on_the_wire(const Connack& connack, ProtocolVersion version) {
  PacketDecoder decoder(Sender::server);
  decoder.set_version(version);
  decoder.feed(encode_packet(Packet{connack}, version));
  DecodeResult result = decoder.next();
  EXPECT_TRUE(std::holds_alternative<Packet>(result));
  return std::get<Connack>(std::get<Packet>(result));
}

TEST(SettleConnect, AnOrdinaryMqtt5ConnectIsAcceptedWithHeraldsLimitsInTheConnack) {
  const ConnectOutcome out = settle_connect(connect_v5(), kServer, "unused");
  ASSERT_TRUE(out.terms);
  EXPECT_EQ(out.connack.reason, ReasonCode::success);
  EXPECT_EQ(out.terms->client_id, "sensor-1");
  EXPECT_FALSE(out.terms->client_id_assigned);
  EXPECT_EQ(out.terms->keep_alive, seconds(60));
  EXPECT_EQ(out.terms->session_expiry, 0u);
  EXPECT_EQ(out.terms->client_receive_maximum, 65'535);  // absent: no limit (3.1.2.11.3)
  EXPECT_EQ(out.terms->send_quota, 100);                 // herald's max_in_flight
  EXPECT_EQ(out.terms->server_receive_maximum, 100);
  EXPECT_FALSE(out.terms->client_maximum_packet_size);
  EXPECT_EQ(out.terms->client_topic_alias_maximum, 0);
  EXPECT_EQ(out.terms->server_topic_alias_maximum, 16);
  EXPECT_TRUE(out.terms->request_problem_information);
  const Connack read = on_the_wire(out.connack, ProtocolVersion::v5);
  EXPECT_EQ(read.properties.receive_maximum, 100);
  EXPECT_EQ(read.properties.maximum_packet_size, 1024u * 1024u);
  EXPECT_EQ(read.properties.topic_alias_maximum, 16);
  EXPECT_FALSE(read.properties.server_keep_alive);
  EXPECT_FALSE(read.properties.assigned_client_identifier);
  EXPECT_FALSE(read.properties.session_expiry_interval);
}

TEST(SettleConnect, TheClientsOwnLimitsAreKeptForWhatHeraldSends) {
  Connect c = connect_v5();
  c.properties.receive_maximum = 5;
  c.properties.maximum_packet_size = 4096;
  c.properties.topic_alias_maximum = 8;
  c.properties.request_problem_information = false;
  c.will = Will{"dead/sensor-1", "gone", QoS::at_least_once, false, {}};
  c.will->properties.will_delay_interval = 30;
  const ConnectOutcome out = settle_connect(c, kServer, "unused");
  ASSERT_TRUE(out.terms);
  EXPECT_EQ(out.terms->client_receive_maximum, 5);
  EXPECT_EQ(out.terms->send_quota, 5);
  EXPECT_EQ(out.terms->client_maximum_packet_size, 4096u);
  EXPECT_EQ(out.terms->client_topic_alias_maximum, 8);
  EXPECT_FALSE(out.terms->request_problem_information);
  EXPECT_EQ(out.terms->will_delay, 30u);
}

// MQTT 5 3.1.3.1 [MQTT-3.1.3-6, -7]: an empty identifier is given one, and told it.
TEST(SettleConnect, AnEmptyClientIdIsAssignedAndToldInMqtt5) {
  const ConnectOutcome out = settle_connect(connect_v5(""), kServer, "auto-7f3a");
  ASSERT_TRUE(out.terms);
  EXPECT_EQ(out.terms->client_id, "auto-7f3a");
  EXPECT_TRUE(out.terms->client_id_assigned);
  EXPECT_EQ(on_the_wire(out.connack, ProtocolVersion::v5).properties.assigned_client_identifier,
            "auto-7f3a");
}

// MQTT 3.1.1 3.1.3.1 [MQTT-3.1.3-7, -8]: only with a clean session; otherwise 0x02.
TEST(SettleConnect, AnEmptyClientIdInMqtt311NeedsACleanSession) {
  const ConnectOutcome clean = settle_connect(connect_v311(""), kServer, "auto-1");
  ASSERT_TRUE(clean.terms);
  EXPECT_EQ(clean.terms->client_id, "auto-1");
  Connect kept = connect_v311("");
  kept.clean_start = false;
  const ConnectOutcome refused = settle_connect(kept, kServer, "auto-2");
  EXPECT_FALSE(refused.terms);
  EXPECT_EQ(refused.connack.reason, ReasonCode::client_identifier_not_valid);
  EXPECT_EQ(encode_packet(Packet{refused.connack}, ProtocolVersion::v3_1_1),
            std::string("\x20\x02\x00\x02", 4));
}

TEST(SettleConnect, AClientIdOverTheLimitIsRefused) {
  ServerTerms server;
  server.max_client_id_length = 23;
  EXPECT_TRUE(settle_connect(connect_v5(std::string(23, 'c')), server, "x").terms);
  const ConnectOutcome out = settle_connect(connect_v5(std::string(24, 'c')), server, "x");
  EXPECT_FALSE(out.terms);
  EXPECT_EQ(out.connack.reason, ReasonCode::client_identifier_not_valid);
  EXPECT_EQ(out.connack.properties.reason_string, "client identifier longer than 23 octets");
}

// MQTT 5 3.2.2.3.14 [MQTT-3.2.2-21]: none, or more than the maximum, is answered with the
// maximum as Server Keep Alive.
TEST(SettleConnect, Mqtt5KeepAliveOverTheMaximumOrNoneIsToldTheMaximum) {
  ServerTerms server;
  server.max_keepalive = seconds(60);
  for (const uint16_t asked : {uint16_t{0}, uint16_t{61}, uint16_t{65'535}}) {
    SCOPED_TRACE(asked);
    const ConnectOutcome out = settle_connect(connect_v5("c", asked), server, "x");
    ASSERT_TRUE(out.terms);
    EXPECT_EQ(out.terms->keep_alive, seconds(60));
    EXPECT_EQ(on_the_wire(out.connack, ProtocolVersion::v5).properties.server_keep_alive, 60);
  }
  const ConnectOutcome within = settle_connect(connect_v5("c", 60), server, "x");
  EXPECT_EQ(within.terms->keep_alive, seconds(60));
  EXPECT_FALSE(within.connack.properties.server_keep_alive);
}

TEST(SettleConnect, Mqtt311KeepAliveOverTheMaximumOrNoneIsRefused) {
  ServerTerms server;
  server.max_keepalive = seconds(60);
  EXPECT_EQ(settle_connect(connect_v311("c", 60), server, "x").terms->keep_alive, seconds(60));
  for (const uint16_t asked : {uint16_t{0}, uint16_t{61}}) {
    SCOPED_TRACE(asked);
    const ConnectOutcome out = settle_connect(connect_v311("c", asked), server, "x");
    EXPECT_FALSE(out.terms);
    EXPECT_EQ(out.connack.reason, ReasonCode::client_identifier_not_valid);
    EXPECT_EQ(on_the_wire(out.connack, ProtocolVersion::v3_1_1).reason,
              ReasonCode::client_identifier_not_valid);
  }
}

// MQTT 5 3.1.2.11.2 and 3.2.2.3.2: a longer session expiry than herald keeps is cut, and
// the CONNACK says to what.
TEST(SettleConnect, SessionExpiryIsCappedAndTheCapTold) {
  ServerTerms server;
  server.max_session_expiry = 3600;
  Connect c = connect_v5();
  c.properties.session_expiry_interval = 600;
  const ConnectOutcome within = settle_connect(c, server, "x");
  EXPECT_EQ(within.terms->session_expiry, 600u);
  EXPECT_FALSE(within.connack.properties.session_expiry_interval);
  c.properties.session_expiry_interval = kSessionNeverExpires;
  const ConnectOutcome capped = settle_connect(c, server, "x");
  EXPECT_EQ(capped.terms->session_expiry, 3600u);
  EXPECT_EQ(on_the_wire(capped.connack, ProtocolVersion::v5).properties.session_expiry_interval,
            3600u);
}

// MQTT 3.1.1 3.1.2.4: clean session 0 keeps the session; herald keeps it up to its maximum.
TEST(SettleConnect, Mqtt311CleanSessionDecidesWhetherTheSessionOutlivesTheConnection) {
  Connect c = connect_v311();
  EXPECT_EQ(settle_connect(c, kServer, "x").terms->session_expiry, 0u);
  c.clean_start = false;
  const ConnectOutcome kept = settle_connect(c, kServer, "x");
  EXPECT_EQ(kept.terms->session_expiry, kServer.max_session_expiry);
  EXPECT_FALSE(kept.terms->clean_start);
  // Nothing of MQTT 5's properties reaches a 3.1.1 client.
  EXPECT_EQ(encode_packet(Packet{kept.connack}, ProtocolVersion::v3_1_1),
            std::string("\x20\x02\x00\x00", 4));
  EXPECT_EQ(kept.terms->server_topic_alias_maximum, 0);
}

}  // namespace
}  // namespace herald::mqtt
