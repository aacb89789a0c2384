#include "mqtt/packet_decoder.h"

#include <gtest/gtest.h>

#include <vector>

#include "mqtt/packet_encoder.h"
#include "mqtt/wire.h"
#include "mqtt_test_support.h"

namespace herald::mqtt {
namespace {

using testing::decode_one;
using testing::describe;
using testing::from_hex;
using testing::to_hex;

constexpr ProtocolVersion kV5 = ProtocolVersion::v5;
constexpr ProtocolVersion kV311 = ProtocolVersion::v3_1_1;

std::vector<std::string> describe_all(PacketDecoder& decoder) {
  std::vector<std::string> out;
  while (true) {
    const DecodeResult result = decoder.next();
    out.push_back(describe(result));
    if (!std::holds_alternative<Packet>(result)) return out;
  }
}

// --- framing ----------------------------------------------------------------------------

TEST(PacketDecoder, NothingFedNeedsMore) {
  PacketDecoder decoder(Sender::client);
  EXPECT_TRUE(std::holds_alternative<NeedMore>(decoder.next()));
}

TEST(PacketDecoder, PartOfAPacketNeedsMoreAndTheRestCompletesIt) {
  PacketDecoder decoder(Sender::client);
  decoder.set_version(kV311);
  decoder.feed(from_hex("30 0E 0005 746F70"));
  EXPECT_TRUE(std::holds_alternative<NeedMore>(decoder.next()));
  decoder.feed(from_hex("6963 7061796C6F6164"));
  const DecodeResult result = decoder.next();
  ASSERT_TRUE(std::holds_alternative<Packet>(result)) << describe(result);
  const auto& publish = std::get<Publish>(std::get<Packet>(result));
  EXPECT_EQ(publish.topic, "topic");
  EXPECT_EQ(publish.payload, "payload");
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(PacketDecoder, SeveralPacketsInOneFeedComeOutInOrder) {
  PacketDecoder decoder(Sender::client);
  decoder.feed(from_hex("10 0D 0004 4D515454 04 02 000A 0001 70") + from_hex("C0 00") +
               from_hex("E0 00") + from_hex("C0"));
  EXPECT_EQ(describe(decoder.next()), "CONNECT");
  decoder.set_version(kV311);  // as the session does once CONNECT is accepted
  EXPECT_EQ(describe_all(decoder),
            (std::vector<std::string>{"PINGREQ", "DISCONNECT", "need more"}));
  EXPECT_EQ(decoder.buffered(), 1u);
}

// Every packet of the round-trip tests, and a stream of them, split at every byte.
TEST(PacketDecoder, ByteAtATimeGivesWhatAllAtOnceGives) {
  Publish publish{.qos = QoS::at_least_once, .topic = "a/b", .packet_id = 5, .payload = "xyz"};
  publish.properties.user_properties = {{"k", "v"}};
  publish.properties.message_expiry_interval = 9;
  std::string stream = encode_packet(publish, kV5);
  stream += encode_packet(Pubrel{.packet_id = 5}, kV5);
  stream += encode_packet(
      Subscribe{.packet_id = 6, .subscription_identifier = 300, .subscriptions = {{"a/#", {}}}},
      kV5);
  stream +=
      encode_packet(Publish{.topic = std::string(200, 'x'), .payload = std::string(20000, 'p')},
                    kV5);  // two- and three-byte remaining lengths
  stream += from_hex("30 0F 0005 2B6F706963 00 7061796C6F6164");  // then a malformed one

  PacketDecoder whole(Sender::client);
  whole.set_version(kV5);
  whole.feed(stream);
  const std::vector<std::string> expected = describe_all(whole);
  ASSERT_EQ(expected.size(), 5u);
  EXPECT_EQ(expected.back().substr(0, 10), "error 0x81");

  PacketDecoder pieces(Sender::client);
  pieces.set_version(kV5);
  std::vector<std::string> got;
  for (const char byte : stream) {
    pieces.feed(std::string_view(&byte, 1));
    while (true) {
      const DecodeResult result = pieces.next();
      if (std::holds_alternative<NeedMore>(result)) break;
      got.push_back(describe(result));
      if (std::holds_alternative<DecodeError>(result)) break;
    }
    if (!got.empty() && got.back().starts_with("error")) break;
  }
  EXPECT_EQ(got, expected);
}

TEST(PacketDecoder, AnErrorIsFinal) {
  PacketDecoder decoder(Sender::client);
  decoder.set_version(kV311);
  decoder.feed(from_hex("C1 00"));  // PINGREQ with a reserved flag
  const DecodeResult first = decoder.next();
  ASSERT_TRUE(std::holds_alternative<DecodeError>(first));
  decoder.feed(from_hex("C0 00"));
  EXPECT_EQ(decoder.next(), first);
  EXPECT_EQ(decoder.buffered(), 0u);
}

// --- hostile input ----------------------------------------------------------------------

TEST(PacketDecoder, HugeAnnouncedLengthIsRefusedAtOnceWithPacketTooLarge) {
  PacketDecoder decoder(Sender::client, DecoderLimits{.max_packet_size = 1024 * 1024});
  decoder.set_version(kV5);
  decoder.feed(from_hex("30 FFFFFF7F"));  // 268,435,455 bytes to come, none sent
  const DecodeResult result = decoder.next();
  ASSERT_TRUE(std::holds_alternative<DecodeError>(result)) << describe(result);
  EXPECT_EQ(std::get<DecodeError>(result).reason, ReasonCode::packet_too_large);
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(PacketDecoder, LimitCountsTheWholePacketFixedHeaderIncluded) {
  const DecoderLimits limits{.max_packet_size = 10};
  // 2 + 8 = 10 bytes: fits; 2 + 9: one too many.
  const std::string fits = from_hex("30 08 0001 61 7061796C6F");
  const std::string over = from_hex("30 09 0001 61 7061796C6F61");
  EXPECT_TRUE(std::holds_alternative<Packet>(decode_one(fits, kV311, Sender::client, limits)));
  const DecodeResult result = decode_one(over, kV311, Sender::client, limits);
  ASSERT_TRUE(std::holds_alternative<DecodeError>(result));
  EXPECT_EQ(std::get<DecodeError>(result).reason, ReasonCode::packet_too_large);
}

TEST(PacketDecoder, RemainingLengthOfFiveBytesIsMalformed) {
  const DecodeResult result = decode_one(from_hex("30 FFFFFFFF7F"), kV5);
  ASSERT_TRUE(std::holds_alternative<DecodeError>(result));
  EXPECT_EQ(std::get<DecodeError>(result).reason, ReasonCode::malformed_packet);
}

TEST(PacketDecoder, RemainingLengthNotInItsShortestFormIsMalformed) {
  // MQTT 5 [MQTT-1.5.5-1]: 0 written as two bytes.
  const DecodeResult result = decode_one(from_hex("C0 8000"), kV5);
  ASSERT_TRUE(std::holds_alternative<DecodeError>(result));
  EXPECT_EQ(std::get<DecodeError>(result).reason, ReasonCode::malformed_packet);
}

TEST(PacketDecoder, ManyTinyPacketsKeepTheBufferSmall) {
  PacketDecoder decoder(Sender::client);
  decoder.set_version(kV311);
  for (int i = 0; i < 100000; ++i) {
    decoder.feed(from_hex("C0 00 C0"));
    decoder.feed(from_hex("00"));
    ASSERT_EQ(describe(decoder.next()), "PINGREQ");
    ASSERT_EQ(describe(decoder.next()), "PINGREQ");
  }
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(PacketDecoder, OnlyConnectBeforeTheVersionIsKnown) {
  const DecodeResult result = decode_one(from_hex("C0 00"), std::nullopt);
  ASSERT_TRUE(std::holds_alternative<DecodeError>(result));
  EXPECT_EQ(std::get<DecodeError>(result).reason, ReasonCode::protocol_error);
}

// --- examples from the specifications ---------------------------------------------------

TEST(SpecExamples, RemainingLengthBoundariesOfMqtt311Table2_4) {
  // MQTT 3.1.1 2.2.3 table 2.4 (MQTT 5 1.5.5): each size's smallest and largest value.
  const struct {
    uint32_t length;
    const char* hex;
  } kCases[] = {{0, "00"},
                {127, "7F"},
                {128, "8001"},
                {16'383, "FF7F"},
                {16'384, "808001"},
                {2'097'151, "FFFF7F"},
                {2'097'152, "80808001"},
                {268'435'455, "FFFFFF7F"}};
  for (const auto& c : kCases) {
    std::string written;
    WireWriter(written).variable_byte_integer(c.length);
    EXPECT_EQ(to_hex(written), c.hex) << c.length;
    // The decoder reads each back as a PINGREQ's remaining length: 0 is a valid one, the
    // others are a body that has not come yet (up to 1 MiB) or is too large.
    const DecodeResult result = decode_one(from_hex(std::string("C0") + c.hex), kV311);
    if (c.length == 0) {
      EXPECT_EQ(describe(result), "PINGREQ");
    } else if (c.length < 1024 * 1024) {
      EXPECT_TRUE(std::holds_alternative<NeedMore>(result)) << c.length << ": " << describe(result);
    } else {
      ASSERT_TRUE(std::holds_alternative<DecodeError>(result)) << c.length;
      EXPECT_EQ(std::get<DecodeError>(result).reason, ReasonCode::packet_too_large);
    }
  }
}

TEST(SpecExamples, Mqtt311ConnectVariableHeader) {
  // MQTT 3.1.1 3.1.2.10, figure 3.6: "MQTT", level 4, flags 0xCE (user name, password,
  // will QoS 1, will, clean session), keep alive 10.
  Connect connect{.version = kV311, .clean_start = true, .keep_alive = 10, .client_id = "c"};
  connect.will = Will{.topic = "w", .payload = "", .qos = QoS::at_least_once};
  connect.username = "u";
  connect.password = "p";
  const std::string bytes = encode_packet(connect, kV311);
  EXPECT_EQ(to_hex(bytes.substr(2, 10)), "00044D51545404CE000A");
}

TEST(SpecExamples, Mqtt5ConnectVariableHeader) {
  // MQTT 5 3.1.2.12, figure 3-6: as above with level 5, then a property length of 5 and a
  // session expiry interval of 10.
  Connect connect{.version = kV5, .clean_start = true, .keep_alive = 10, .client_id = "c"};
  connect.will = Will{.topic = "w", .payload = "", .qos = QoS::at_least_once};
  connect.username = "u";
  connect.password = "p";
  connect.properties.session_expiry_interval = 10;
  const std::string bytes = encode_packet(connect, kV5);
  EXPECT_EQ(to_hex(bytes.substr(2, 16)), "00044D51545405CE000A05110000000A");
}

TEST(SpecExamples, Mqtt311PublishVariableHeader) {
  // MQTT 3.1.1 3.3.2.3, figure 3.11: topic "a/b", packet identifier 10.
  const std::string bytes =
      encode_packet(Publish{.qos = QoS::at_least_once, .topic = "a/b", .packet_id = 10}, kV311);
  EXPECT_EQ(to_hex(bytes),
            "3207"
            "0003612F62"
            "000A");
}

TEST(SpecExamples, Utf8StringWithASupplementaryCharacter) {
  // MQTT 5 1.5.4, figure 1-1 (MQTT 3.1.1 1.5.3 figure 1.1): "A𪛔" is 00 05 41 F0 AA 9B 94.
  const DecodeResult result = decode_one(from_hex("30 07 0005 41F0AA9B94"), kV311);
  ASSERT_TRUE(std::holds_alternative<Packet>(result)) << describe(result);
  EXPECT_EQ(std::get<Publish>(std::get<Packet>(result)).topic, "A\xF0\xAA\x9B\x94");
}

// --- what is malformed or forbidden -----------------------------------------------------

struct Refusal {
  const char* what;
  ProtocolVersion version;
  const char* hex;
  ReasonCode reason;
  Sender sender = Sender::client;
};

constexpr ReasonCode kMalformed = ReasonCode::malformed_packet;
constexpr ReasonCode kProtocolError = ReasonCode::protocol_error;

const Refusal kRefusals[] = {
    // Fixed header (MQTT 5 2.1).
    {"reserved packet type 0", kV5, "00 00", kMalformed},
    {"AUTH is reserved in 3.1.1", kV311, "F0 00", kMalformed},
    {"SUBSCRIBE flags not 0b0010", kV5, "80 06 0001 00 0001 61 00", kMalformed},
    {"UNSUBSCRIBE flags not 0b0010", kV311, "A0 05 0001 0001 61", kMalformed},
    {"PUBREL flags not 0b0010", kV311, "60 02 0001", kMalformed},
    {"PUBACK with a flag", kV311, "41 02 0001", kMalformed},
    {"PINGREQ with a body", kV311, "C0 01 00", kMalformed},
    {"remaining length past the content", kV311, "40 03 0001 00", kMalformed},
    {"remaining length short of the content", kV311, "30 03 0005 61", kMalformed},
    // Direction (MQTT 5 2.1.2 table 2-1).
    {"CONNACK from a client", kV5, "20 03 00 00 00", kProtocolError},
    {"PINGRESP from a client", kV311, "D0 00", kProtocolError},
    {"CONNECT from a server", kV5, "10 0E 0004 4D515454 05 02 000A 00 0001 70", kProtocolError,
     Sender::server},
    {"SUBSCRIBE from a server", kV5, "82 06 0001 00 0001 61 00", kProtocolError, Sender::server},
    // CONNECT (3.1).
    {"protocol name not MQTT", kV5, "10 0E 0004 4D515458 05 02 000A 00 0001 70", kMalformed},
    {"MQTT 3.1", kV311, "10 0F 0006 4D5149736470 03 02 000A 0001 70",
     ReasonCode::unsupported_protocol_version},
    {"CONNECT reserved flag", kV5, "10 0E 0004 4D515454 05 03 000A 00 0001 70", kMalformed},
    {"will QoS without a will", kV5, "10 0E 0004 4D515454 05 0A 000A 00 0001 70", kMalformed},
    {"will QoS 3", kV5, "10 14 0004 4D515454 05 1E 000A 00 0001 70 00 0001 77 0000", kMalformed},
    {"will topic with a wildcard", kV5, "10 14 0004 4D515454 05 06 000A 00 0001 70 00 0001 23 0000",
     kMalformed},
    {"password without user name in 3.1.1", kV311, "10 10 0004 4D515454 04 42 000A 0001 70 0001 70",
     kMalformed},
    {"will delay in CONNECT properties", kV5,
     "10 13 0004 4D515454 05 02 000A 05 1800000001 0001 70", kMalformed},
    {"receive maximum of 0", kV5, "10 11 0004 4D515454 05 02 000A 03 210000 0001 70",
     kProtocolError},
    {"maximum packet size of 0", kV5, "10 13 0004 4D515454 05 02 000A 05 2700000000 0001 70",
     kProtocolError},
    {"request problem information of 2", kV5, "10 10 0004 4D515454 05 02 000A 02 1702 0001 70",
     kProtocolError},
    {"authentication data without a method", kV5,
     "10 12 0004 4D515454 05 02 000A 04 16000161 0001 70", kProtocolError},
    {"session expiry interval twice", kV5,
     "10 18 0004 4D515454 05 02 000A 0A 1100000001 1100000002 0001 70", kProtocolError},
    // UTF-8 (MQTT 5 1.5.4).
    {"client id with U+0000", kV5, "10 10 0004 4D515454 05 02 000A 00 0003 610062", kMalformed},
    {"client id with a surrogate", kV5, "10 10 0004 4D515454 05 02 000A 00 0003 EDA080",
     kMalformed},
    {"client id with an overlong '/'", kV5, "10 0F 0004 4D515454 05 02 000A 00 0002 C0AF",
     kMalformed},
    {"client id with a truncated sequence", kV5, "10 0F 0004 4D515454 05 02 000A 00 0002 61E2",
     kMalformed},
    {"user property value not UTF-8", kV5, "30 0C 0001 74 07 260001 61 0001 FF 00", kMalformed},
    // PUBLISH (3.3).
    {"QoS 3", kV311, "36 06 0001 74 0001 70", kMalformed},
    {"DUP at QoS 0", kV311, "38 04 0001 74 70", kMalformed},
    {"packet id 0 at QoS 1", kV311, "32 06 0001 74 0000 70", kProtocolError},
    {"'+' in a topic name", kV311, "30 04 0002 612B", kMalformed},
    {"'#' in a topic name", kV5, "30 05 0002 6123 00", kMalformed},
    {"empty topic in 3.1.1", kV311, "30 03 0000 70", kMalformed},
    {"empty topic without an alias", kV5, "30 04 0000 00 70", kProtocolError},
    {"topic alias 0", kV5, "30 07 0001 74 03 230000", kProtocolError},
    {"payload format indicator 2", kV5, "30 06 0001 74 02 0102", kProtocolError},
    {"response topic with a wildcard", kV5, "30 09 0001 74 05 08 0002 612B", kProtocolError},
    {"subscription identifier from a client", kV5, "30 06 0001 74 02 0B01", kProtocolError},
    {"session expiry in PUBLISH", kV5, "30 09 0001 74 05 1100000001", kMalformed},
    {"message expiry interval twice", kV5, "30 0E 0001 74 0A 0200000001 0200000001",
     kProtocolError},
    {"unknown property 0x05", kV5, "30 06 0001 74 02 0501", kMalformed},
    {"property id not in its shortest form", kV5, "30 07 0001 74 03 800001", kMalformed},
    {"property length past the packet", kV5, "30 06 0001 74 05 0101", kMalformed},
    // Acknowledgements (3.4-3.7).
    {"PUBACK packet id 0", kV5, "40 02 0000", kProtocolError},
    {"PUBACK reason 0x92", kV5, "40 03 0001 92", kProtocolError},
    {"PUBREL reason 0x10", kV5, "62 03 0001 10", kProtocolError},
    {"PUBACK with a reason in 3.1.1", kV311, "40 03 0001 00", kMalformed},
    // SUBSCRIBE (3.8).
    {"SUBSCRIBE without filters", kV311, "82 02 0001", kProtocolError},
    {"SUBSCRIBE packet id 0", kV311, "82 06 0000 0001 61 00", kProtocolError},
    {"SUBSCRIBE options reserved bits in 3.1.1", kV311, "82 06 0001 0001 61 04", kMalformed},
    {"SUBSCRIBE options reserved bits in 5", kV5, "82 07 0001 00 0001 61 40", kMalformed},
    {"SUBSCRIBE QoS 3", kV5, "82 07 0001 00 0001 61 03", kMalformed},
    {"retain handling 3", kV5, "82 07 0001 00 0001 61 30", kProtocolError},
    {"filter without options", kV5, "82 06 0001 00 0001 61", kMalformed},
    {"'#' not last", kV311, "82 08 0001 0003 232F61 00", kMalformed},
    {"'+' inside a level", kV311, "82 07 0001 0002 612B 00", kMalformed},
    {"empty filter", kV311, "82 05 0001 0000 00", kMalformed},
    {"subscription identifier 0", kV5, "82 09 0001 02 0B00 0001 61 00", kProtocolError},
    {"two subscription identifiers", kV5, "82 0B 0001 04 0B01 0B02 0001 61 00", kProtocolError},
    {"topic alias in SUBSCRIBE", kV5, "82 0A 0001 03 230001 0001 61 00", kMalformed},
    {"no local on a shared subscription", kV5, "82 10 0001 00 000A 2473686172652F672F61 04",
     kProtocolError},
    {"shared subscription without a filter", kV5, "82 0E 0001 00 0008 2473686172652F67 00",
     kProtocolError},
    // UNSUBSCRIBE (3.10).
    {"UNSUBSCRIBE without filters", kV5, "A2 03 0001 00", kProtocolError},
    {"UNSUBSCRIBE with a reason string", kV5, "A2 09 0001 04 1F000172 0001 61", kMalformed},
    // Server packets (herald as a client, and the tests).
    {"CONNACK reserved flags", kV5, "20 03 02 00 00", kMalformed, Sender::server},
    {"CONNACK session present on a refusal", kV5, "20 03 01 87 00", kProtocolError, Sender::server},
    {"CONNACK return code 6 in 3.1.1", kV311, "20 02 00 06", kProtocolError, Sender::server},
    {"CONNACK reason 0x04", kV5, "20 03 00 04 00", kProtocolError, Sender::server},
    {"SUBACK without reasons", kV5, "90 03 0001 00", kProtocolError, Sender::server},
    {"SUBACK return code 0x87 in 3.1.1", kV311, "90 03 0001 87", kProtocolError, Sender::server},
    {"UNSUBACK without reasons", kV5, "B0 03 0001 00", kProtocolError, Sender::server},
    {"UNSUBACK with a body in 3.1.1", kV311, "B0 03 0001 00", kMalformed, Sender::server},
    // DISCONNECT and AUTH (3.14, 3.15).
    {"DISCONNECT with a body in 3.1.1", kV311, "E0 01 00", kMalformed},
    {"DISCONNECT reason 0x05", kV5, "E0 01 05", kProtocolError},
    {"DISCONNECT with a subscription identifier", kV5, "E0 04 00 02 0B01", kMalformed},
    {"AUTH reason 0x80", kV5, "F0 02 80 00", kProtocolError},
    {"AUTH with flags", kV5, "F1 00", kMalformed},
};

TEST(PacketDecoder, MalformedAndForbiddenPacketsAreRefusedWithTheirReasonCode) {
  for (const Refusal& r : kRefusals) {
    const DecodeResult result = decode_one(from_hex(r.hex), r.version, r.sender);
    const auto* error = std::get_if<DecodeError>(&result);
    if (!error) {
      ADD_FAILURE() << r.what << " was not refused: " << describe(result);
      continue;
    }
    EXPECT_EQ(error->reason, r.reason) << r.what << ": " << describe(result);
    EXPECT_FALSE(error->message.empty()) << r.what;
  }
}

TEST(PacketDecoder, RepeatableItemsMayRepeat) {
  // User properties anywhere, subscription identifiers in a server's PUBLISH (MQTT 5 2.2.2.2,
  // 3.3.2.3.8).
  const DecodeResult publish =
      decode_one(from_hex("30 10 0001 74 0B 0B01 0B02 26000161000162 70"), kV5, Sender::server);
  ASSERT_TRUE(std::holds_alternative<Packet>(publish)) << describe(publish);
  EXPECT_EQ(std::get<Publish>(std::get<Packet>(publish)).properties.subscription_identifiers,
            (std::vector<uint32_t>{1, 2}));
}

TEST(PacketDecoder, TopicsOverTheLimitsAreRefusedAsInvalidTopics) {
  const DecoderLimits limits{.topic = {.max_length = 3, .max_levels = 2}};
  const DecodeResult name =
      decode_one(from_hex("30 06 0004 61626364"), kV311, Sender::client, limits);
  ASSERT_TRUE(std::holds_alternative<DecodeError>(name)) << describe(name);
  EXPECT_EQ(std::get<DecodeError>(name).reason, ReasonCode::topic_name_invalid);
  const DecodeResult filter =
      decode_one(from_hex("82 08 0001 0003 612F2F 00"), kV311, Sender::client, limits);
  ASSERT_TRUE(std::holds_alternative<DecodeError>(filter)) << describe(filter);
  EXPECT_EQ(std::get<DecodeError>(filter).reason, ReasonCode::topic_filter_invalid);
}

}  // namespace
}  // namespace herald::mqtt
