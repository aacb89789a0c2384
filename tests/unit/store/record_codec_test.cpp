#include "store/record_codec.h"

#include <gtest/gtest.h>

#include "store/store.h"

namespace herald {
namespace {

MessageRecord sample_message() {
  MessageRecord m;
  m.id = "01HZY3NDEKTSV4RRFFQ69G5FAV";
  m.received_at = from_unix_ms(1'700'000'000'123);
  m.size = 4242;
  m.envelope.mail_from = "sender@example.org";
  m.envelope.rcpt_to = {"alice@example.test", "bob@example.test"};
  m.envelope.helo = "client.example.org \xff\"quoted\"";  // 8-bit and quotes survive
  m.envelope.peer_ip = "192.0.2.7";
  m.envelope.peer_port = 54321;
  m.envelope.listener = "smtp";
  m.envelope.protocol = "ESMTPS";
  m.envelope.tls_version = "TLSv1.3";
  m.envelope.tls_cipher = "TLS_AES_256_GCM_SHA384";
  m.envelope.authenticated_as = "carol@example.test";
  m.envelope.body_type = "8BITMIME";
  m.envelope.smtputf8 = true;
  m.envelope.sender_verified = true;
  return m;
}

TEST(RecordCodec, MessageRecordRoundTrips) {
  const MessageRecord m = sample_message();
  const MessageRecord back = decode_message_record(encode_message_record(m));
  EXPECT_EQ(back.id, m.id);
  EXPECT_EQ(back.received_at, m.received_at);
  EXPECT_EQ(back.size, m.size);
  EXPECT_EQ(back.envelope.mail_from, m.envelope.mail_from);
  EXPECT_EQ(back.envelope.rcpt_to, m.envelope.rcpt_to);
  EXPECT_EQ(back.envelope.helo, m.envelope.helo);
  EXPECT_EQ(back.envelope.peer_ip, m.envelope.peer_ip);
  EXPECT_EQ(back.envelope.peer_port, m.envelope.peer_port);
  EXPECT_EQ(back.envelope.listener, m.envelope.listener);
  EXPECT_EQ(back.envelope.protocol, m.envelope.protocol);
  EXPECT_EQ(back.envelope.tls_version, m.envelope.tls_version);
  EXPECT_EQ(back.envelope.tls_cipher, m.envelope.tls_cipher);
  EXPECT_EQ(back.envelope.authenticated_as, m.envelope.authenticated_as);
  EXPECT_EQ(back.envelope.body_type, m.envelope.body_type);
  EXPECT_EQ(back.envelope.smtputf8, m.envelope.smtputf8);
  EXPECT_EQ(back.envelope.sender_verified, m.envelope.sender_verified);
}

TEST(RecordCodec, MessageRecordIsReadableJson) {
  const std::string json = encode_message_record(sample_message());
  EXPECT_NE(json.find("\"received_at\":1700000000123"), std::string::npos) << json;
  EXPECT_NE(json.find("\"mail_from\":\"sender@example.org\""), std::string::npos) << json;
}

TEST(RecordCodec, DeliveryRoundTripsInEveryState) {
  for (auto state : {DeliveryState::queued, DeliveryState::attempting, DeliveryState::deferred,
                     DeliveryState::delivered, DeliveryState::bounced, DeliveryState::expired,
                     DeliveryState::discarded}) {
    Delivery d;
    d.message_id = "01HZY3NDEKTSV4RRFFQ69G5FAV";
    d.index = 3;
    d.recipient = "postmaster@example.test";
    d.mailbox = "alice@example.test";
    d.transport = "local";
    d.state = state;
    d.attempts = 7;
    d.next_attempt = from_unix_ms(1'700'000'060'000);
    d.last_reply = "4.3.1 mail system full\r\nsecond line";
    const Delivery back = decode_delivery(encode_delivery(d));
    EXPECT_EQ(back.message_id, d.message_id);
    EXPECT_EQ(back.index, d.index);
    EXPECT_EQ(back.recipient, d.recipient);
    EXPECT_EQ(back.mailbox, d.mailbox);
    EXPECT_EQ(back.transport, d.transport);
    EXPECT_EQ(back.state, d.state);
    EXPECT_EQ(back.attempts, d.attempts);
    EXPECT_EQ(back.next_attempt, d.next_attempt);
    EXPECT_EQ(back.last_reply, d.last_reply);
  }
}

TEST(RecordCodec, ForwardedDeliveryKeepsItsEnvelopeSender) {
  Delivery d;
  d.message_id = "01HZY3NDEKTSV4RRFFQ69G5FAV";
  d.recipient = "alice@example.test";
  d.mailbox = "alice.private@elsewhere.test";
  d.transport = "smtp";
  d.envelope_sender = "SRS0=8zoU=JS=sender.test=someone@mx.example.test";
  EXPECT_EQ(decode_delivery(encode_delivery(d)).envelope_sender, d.envelope_sender);
}

TEST(RecordCodec, DeliveryWrittenBeforeEnvelopeSendersDecodesToTheMessagesSender) {
  const Delivery back = decode_delivery(
      R"({"message_id":"01HZY3NDEKTSV4RRFFQ69G5FAV","index":0,"recipient":"a@example.test",)"
      R"("mailbox":"a@example.test","transport":"local","state":"queued","attempts":0,)"
      R"("next_attempt":1700000060000,"last_reply":""})");
  EXPECT_EQ(back.envelope_sender, "");
}

TEST(RecordCodec, DeliveryKeepsItsPriorityAndOneWrittenBeforeItReadsAsZero) {
  Delivery d;
  d.message_id = "01HZY3NDEKTSV4RRFFQ69G5FAV";
  d.priority = -7;
  EXPECT_EQ(decode_delivery(encode_delivery(d)).priority, -7);
  const Delivery old = decode_delivery(
      R"({"message_id":"01HZY3NDEKTSV4RRFFQ69G5FAV","index":0,"recipient":"a@example.test",)"
      R"("mailbox":"a@example.test","transport":"local","state":"queued","attempts":0,)"
      R"("next_attempt":1700000060000,"last_reply":""})");
  EXPECT_EQ(old.priority, 0);
  std::string bad = encode_delivery(d);
  bad.replace(bad.find("\"priority\":-7"), 14, "\"priority\":10");
  EXPECT_THROW(decode_delivery(bad), StoreError);
}

TEST(RecordCodec, LedgerEventRoundTripsWithOrderedRepeatedFields) {
  LedgerEvent e;
  e.at = from_unix_ms(1'700'000'000'999);
  e.type = "delivered";
  e.recipient = "alice@example.test";
  e.fields = {{"mailbox", "/var/mail/new/x"}, {"note", "a"}, {"note", std::string("b\0c", 3)}};
  const LedgerEvent back = decode_ledger_event(encode_ledger_event(e));
  EXPECT_EQ(back.at, e.at);
  EXPECT_EQ(back.type, e.type);
  EXPECT_EQ(back.recipient, e.recipient);
  EXPECT_EQ(back.fields, e.fields);
}

TEST(RecordCodec, DeliveryStateNamesParseBack) {
  EXPECT_EQ(parse_delivery_state("deferred"), DeliveryState::deferred);
  EXPECT_EQ(to_string(DeliveryState::expired), "expired");
  EXPECT_FALSE(parse_delivery_state("lost").has_value());
  EXPECT_TRUE(is_terminal(DeliveryState::discarded));
  EXPECT_FALSE(is_terminal(DeliveryState::attempting));
}

TEST(RecordCodec, MalformedRecordsAreStoreErrors) {
  EXPECT_THROW(decode_message_record(""), StoreError);
  EXPECT_THROW(decode_message_record("{\"id\":"), StoreError);
  EXPECT_THROW(decode_message_record("[1,2]"), StoreError);
  EXPECT_THROW(decode_message_record("{\"id\":\"x\"}"), StoreError);
  EXPECT_THROW(decode_delivery("{\"message_id\":5}"), StoreError);
  EXPECT_THROW(decode_ledger_event("\xff\xfe garbage"), StoreError);

  Delivery d;
  d.message_id = "01HZY3NDEKTSV4RRFFQ69G5FAV";
  std::string json = encode_delivery(d);
  std::string bad_state = json;
  bad_state.replace(bad_state.find("\"queued\""), 8, "\"lost\"");
  EXPECT_THROW(decode_delivery(bad_state), StoreError);
  std::string far_future = json;
  far_future.replace(far_future.find("\"next_attempt\":0"), 16,
                     "\"next_attempt\":9223372036854775807");
  EXPECT_THROW(decode_delivery(far_future), StoreError);
  std::string negative_index = json;
  negative_index.replace(negative_index.find("\"index\":0"), 9, "\"index\":-1");
  EXPECT_THROW(decode_delivery(negative_index), StoreError);

  LedgerEvent e;
  e.type = "received";
  std::string event = encode_ledger_event(e);
  event.replace(event.find("\"fields\":[]"), 11, "\"fields\":[[\"only-a-key\"]]");
  EXPECT_THROW(decode_ledger_event(event), StoreError);
}

TEST(RecordCodec, MessageQosRoundTrips) {
  MessageRecord m = sample_message();
  m.qos.priority = -7;
  m.qos.deliver_by = from_unix_ms(1'700'003'600'123);
  m.qos.deliver_by_mode = DeliverByMode::return_if_late;
  m.qos.deliver_by_trace = true;
  m.qos.ret = DsnReturn::headers;
  m.qos.envid = "abc+def";
  const Qos back = decode_message_record(encode_message_record(m)).qos;
  EXPECT_EQ(back.priority, -7);
  EXPECT_EQ(back.deliver_by, m.qos.deliver_by);
  EXPECT_EQ(back.deliver_by_mode, DeliverByMode::return_if_late);
  EXPECT_TRUE(back.deliver_by_trace);
  EXPECT_EQ(back.ret, DsnReturn::headers);
  EXPECT_EQ(back.envid, "abc+def");
}

TEST(RecordCodec, DeliveryDsnRequestRoundTrips) {
  for (const NotifyRequest notify :
       {NotifyRequest{}, NotifyRequest{true, false, false, false},
        NotifyRequest{true, true, true, false}, NotifyRequest{true, false, true, true}}) {
    Delivery d;
    d.notify = notify;
    d.original_recipient = "rfc822;alice@example.test";
    const Delivery back = decode_delivery(encode_delivery(d));
    EXPECT_EQ(back.notify, notify) << to_string(notify);
    EXPECT_EQ(back.original_recipient, d.original_recipient);
  }
  EXPECT_EQ(to_string(NotifyRequest{true, false, false, false}), "NEVER");
  EXPECT_EQ(to_string(NotifyRequest{true, true, false, true}), "SUCCESS,DELAY");
  EXPECT_EQ(to_string(NotifyRequest{}), "");
}

// Records stored before the QoS fields existed still decode, with the defaults.
TEST(RecordCodec, RecordsWithoutQosFieldsDecodeToDefaults) {
  const MessageRecord m = decode_message_record(
      R"({"id":"01HZY3NDEKTSV4RRFFQ69G5FAV","received_at":1700000000123,"size":10,)"
      R"("envelope":{"mail_from":"","rcpt_to":[],"helo":"h","peer_ip":"192.0.2.7",)"
      R"("peer_port":25,"listener":"smtp","protocol":"ESMTP","tls_version":"","tls_cipher":"",)"
      R"("authenticated_as":"","body_type":"7BIT","smtputf8":false}})");
  EXPECT_EQ(m.qos.priority, 0);
  EXPECT_EQ(m.qos.deliver_by_mode, DeliverByMode::none);
  EXPECT_EQ(m.qos.ret, DsnReturn::unspecified);
  EXPECT_EQ(m.qos.envid, "");
  EXPECT_FALSE(m.envelope.sender_verified);
  const Delivery d =
      decode_delivery(R"({"message_id":"01HZY3NDEKTSV4RRFFQ69G5FAV","index":0,"recipient":"a@b",)"
                      R"("mailbox":"a@b","transport":"local","state":"queued","attempts":0,)"
                      R"("next_attempt":0,"last_reply":""})");
  EXPECT_FALSE(d.notify.given);
  EXPECT_EQ(d.original_recipient, "");
}

TEST(RecordCodec, MalformedQosFieldsAreStoreErrors) {
  const std::string message = encode_message_record(sample_message());
  std::string bad_priority = message;
  bad_priority.replace(bad_priority.find("\"priority\":0"), 12, "\"priority\":12");
  EXPECT_THROW(decode_message_record(bad_priority), StoreError);
  std::string bad_mode = message;
  bad_mode.replace(bad_mode.find("\"deliver_by_mode\":\"\""), 20, "\"deliver_by_mode\":\"X\"");
  EXPECT_THROW(decode_message_record(bad_mode), StoreError);
  std::string bad_notify = encode_delivery(Delivery{});
  bad_notify.replace(bad_notify.find("\"notify\":\"\""), 11, "\"notify\":\"SOMETIMES\"");
  EXPECT_THROW(decode_delivery(bad_notify), StoreError);
}

TEST(RecordCodec, MalformedRecordErrorNamesTheField) {
  try {
    decode_delivery("{\"message_id\":5}");
    FAIL() << "no StoreError";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("message_id"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace herald
