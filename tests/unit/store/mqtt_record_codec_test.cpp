// The stored form of the MQTT face's records (store/record_codec.h): what round trips, what a
// record of an older herald reads as, and that binary properties and payloads survive.
#include <gtest/gtest.h>

#include "store/record_codec.h"
#include "store/store.h"

namespace herald {
namespace {

// Every byte value once, 0x00 to 0xFF: what no JSON string may hold as it is.
std::string every_byte() {
  std::string bytes;
  for (int b = 0; b < 256; ++b) bytes.push_back(static_cast<char>(b));
  return bytes;
}

MqttMessageFields sample_mqtt_message() {
  MqttMessageFields f;
  f.topic = "sensors/kitchen/temp";
  f.qos = 2;
  f.retain = true;
  f.properties = every_byte();
  f.expires_at = from_unix_ms(1'700'000'060'000);
  f.publisher = "thermo-1";
  return f;
}

RetainedMessage sample_retained(std::string payload) {
  RetainedMessage m;
  m.topic = "sensors/kitchen/temp";
  m.qos = 1;
  m.properties = every_byte();
  m.payload = std::move(payload);
  m.priority = -3;
  m.received = from_unix_ms(1'700'000'000'123);
  m.expires_at = from_unix_ms(1'700'000'600'000);
  m.message_id = "01HZY3NDEKTSV4RRFFQ69G5FAV";
  return m;
}

// What `decode` threw, or "" when it did not throw.
template <typename Decode>
std::string error_of(Decode decode) {
  try {
    decode();
  } catch (const StoreError& error) {
    return error.what();
  }
  return "";
}

TEST(MqttRecordCodec, MessageMqttFieldsRoundTripWithEveryByteInProperties) {
  MessageRecord m;
  m.id = "01HZY3NDEKTSV4RRFFQ69G5FAV";
  m.mqtt = sample_mqtt_message();
  EXPECT_EQ(decode_message_record(encode_message_record(m)).mqtt, m.mqtt);

  m.mqtt->expires_at.reset();
  m.mqtt->properties.clear();
  EXPECT_EQ(decode_message_record(encode_message_record(m)).mqtt, m.mqtt);
}

TEST(MqttRecordCodec, PropertiesAreStoredAsHex) {
  MessageRecord m;
  m.mqtt = sample_mqtt_message();
  m.mqtt->properties = std::string("\x00\x7f\xff", 3);
  EXPECT_NE(encode_message_record(m).find("\"properties\":\"007fff\""), std::string::npos);
}

TEST(MqttRecordCodec, RecordsWithoutMqttFieldsDecodeToNone) {
  MessageRecord m;
  m.id = "01HZY3NDEKTSV4RRFFQ69G5FAV";
  EXPECT_EQ(encode_message_record(m).find("mqtt"), std::string::npos);
  // As a herald before the MQTT face wrote them.
  const std::string old_message =
      R"({"id":"01HZY3NDEKTSV4RRFFQ69G5FAV","received_at":1700000000123,"size":42,)"
      R"("envelope":{"mail_from":"a@example.org","rcpt_to":["b@example.test"],"helo":"h",)"
      R"("peer_ip":"192.0.2.7","peer_port":25,"listener":"smtp","protocol":"ESMTP",)"
      R"("tls_version":"","tls_cipher":"","authenticated_as":"","body_type":"7BIT",)"
      R"("smtputf8":false}})";
  EXPECT_FALSE(decode_message_record(old_message).mqtt.has_value());
  const std::string old_delivery =
      R"({"message_id":"01HZY3NDEKTSV4RRFFQ69G5FAV","index":0,"recipient":"b@example.test",)"
      R"("mailbox":"b@example.test","transport":"local","state":"queued","attempts":0,)"
      R"("next_attempt":0,"last_reply":""})";
  EXPECT_FALSE(decode_delivery(old_delivery).mqtt.has_value());
}

TEST(MqttRecordCodec, DeliveryMqttCopyRoundTrips) {
  Delivery d;
  d.message_id = "01HZY3NDEKTSV4RRFFQ69G5FAV";
  d.transport = mqtt_transport("thermo-1");
  d.mqtt = MqttCopyFields{2, true, {1, 268'435'455}, 65535};
  const Delivery back = decode_delivery(encode_delivery(d));
  EXPECT_EQ(back.mqtt, d.mqtt);
  EXPECT_EQ(back.transport, "mqtt:thermo-1");

  d.mqtt = MqttCopyFields{};
  EXPECT_EQ(decode_delivery(encode_delivery(d)).mqtt, MqttCopyFields{});
}

TEST(MqttRecordCodec, SessionRoundTripsAndReadsAsJson) {
  MqttSessionRecord s;
  s.client_id = "thermo-1";
  s.version = 4;
  s.expiry_interval = 0xFFFFFFFF;
  s.disconnected_at = from_unix_ms(1'700'000'000'999);
  s.subscriptions = {{"$share/g/sensors/#", 0x2e, 7}, {"cmd/+", 1, std::nullopt}};
  const std::string stored = encode_mqtt_session(s);
  EXPECT_NE(stored.find("\"client_id\":\"thermo-1\""), std::string::npos);
  EXPECT_EQ(decode_mqtt_session(stored), s);

  s.disconnected_at.reset();
  s.subscriptions.clear();
  EXPECT_EQ(decode_mqtt_session(encode_mqtt_session(s)), s);
}

TEST(MqttRecordCodec, InboundMarkRoundTrips) {
  const MqttInboundMark mark{"thermo-1", 65535, "01HZY3NDEKTSV4RRFFQ69G5FAV"};
  EXPECT_EQ(decode_mqtt_inbound_mark(encode_mqtt_inbound_mark(mark)), mark);
  const MqttInboundMark unkept{"thermo-1", 1, ""};
  EXPECT_EQ(decode_mqtt_inbound_mark(encode_mqtt_inbound_mark(unkept)), unkept);
}

TEST(MqttRecordCodec, RetainedMessageKeepsItsPayloadRawAfterAJsonHead) {
  std::string payload;
  for (int i = 0; i < 4096; ++i) payload += every_byte();  // 1 MiB
  const RetainedMessage m = sample_retained(payload);
  const std::string stored = encode_retained_message(m);
  EXPECT_EQ(decode_retained_message(stored), m);

  // The payload is the value's tail byte for byte, after a head of the length it declares.
  ASSERT_GT(stored.size(), payload.size() + 4);
  EXPECT_EQ(stored.substr(stored.size() - payload.size()), payload);
  const size_t head_length = (static_cast<unsigned char>(stored[0]) << 24) |
                             (static_cast<unsigned char>(stored[1]) << 16) |
                             (static_cast<unsigned char>(stored[2]) << 8) |
                             static_cast<unsigned char>(stored[3]);
  EXPECT_EQ(4 + head_length + payload.size(), stored.size());
  EXPECT_EQ(stored[4], '{');

  RetainedMessage no_expiry = sample_retained("x");
  no_expiry.expires_at.reset();
  EXPECT_EQ(decode_retained_message(encode_retained_message(no_expiry)), no_expiry);
}

TEST(MqttRecordCodec, DamagedMqttRecordsNameTheRecordAndTheField) {
  MessageRecord m;
  m.mqtt = sample_mqtt_message();
  std::string bad_qos = encode_message_record(m);
  bad_qos.replace(bad_qos.find("\"qos\":2"), 7, "\"qos\":3");
  EXPECT_EQ(error_of([&] { decode_message_record(bad_qos); }),
            "stored message record mqtt: field 'qos' is not a QoS of 0, 1 or 2");
  std::string bad_hex = encode_message_record(m);
  bad_hex.replace(bad_hex.find("\"properties\":\"00"), 16, "\"properties\":\"0");
  EXPECT_EQ(error_of([&] { decode_message_record(bad_hex); }),
            "stored message record mqtt: field 'properties' is not bytes in hex");

  Delivery d;
  d.mqtt = MqttCopyFields{1, false, {3}, 0};
  std::string bad_identifier = encode_delivery(d);
  bad_identifier.replace(bad_identifier.find("[3]"), 3, "[\"3\"]");
  EXPECT_EQ(error_of([&] { decode_delivery(bad_identifier); }),
            "stored delivery mqtt: field 'identifiers' is not an array of subscription "
            "identifiers");

  EXPECT_EQ(error_of([] { decode_mqtt_session(R"({"client_id":"c","version":5})"); }),
            "stored mqtt session: field 'expiry_interval' is missing");
  EXPECT_EQ(error_of([] {
              decode_mqtt_session(
                  R"({"client_id":"c","version":5,"expiry_interval":1,"subscriptions":[{}]})");
            }),
            "stored mqtt session subscription: field 'filter' is missing");
  EXPECT_EQ(error_of([] { decode_mqtt_inbound_mark(R"({"client_id":"c","packet_id":65536})"); }),
            "stored mqtt inbound mark: field 'packet_id' is not an integer in range");

  const std::string retained = encode_retained_message(sample_retained("payload"));
  EXPECT_NE(error_of([&] { decode_retained_message(retained.substr(0, 3)); }), "");
  EXPECT_NE(error_of([&] { decode_retained_message(retained.substr(0, 20)); }), "");
  const std::string no_payload = retained.substr(0, retained.size() - 7);
  EXPECT_EQ(error_of([&] { decode_retained_message(no_payload); }),
            "stored retained message: field 'payload' is not a payload (an empty one erases the "
            "topic's)");
  std::string bad_head = retained;
  bad_head[4] = '[';
  EXPECT_TRUE(error_of([&] {
                decode_retained_message(bad_head);
              }).starts_with("stored retained message head is not JSON"));
}

}  // namespace
}  // namespace herald
