#include "mqtt/outbound_flow.h"

#include <gtest/gtest.h>

#include <set>

namespace herald::mqtt {
namespace {

SessionTerms terms(uint16_t send_quota) {
  SessionTerms t;
  t.send_quota = send_quota;
  return t;
}

using Resend = OutboundFlow::Resend;

// MQTT 5 4.9: the send quota bounds what is in flight; PUBACK gives a place back.
TEST(OutboundFlow, TheClientsReceiveMaximumBoundsWhatIsInFlight) {
  OutboundFlow flow(terms(2));
  const auto a = flow.start(QoS::at_least_once, 100);
  const auto b = flow.start(QoS::exactly_once, 101);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_FALSE(flow.can_send());
  EXPECT_FALSE(flow.start(QoS::at_least_once, 102));
  const auto answer = flow.on_puback(*a, ReasonCode::success);
  EXPECT_EQ(answer.finished, 100u);
  EXPECT_TRUE(answer.delivered);
  EXPECT_TRUE(flow.can_send());
  EXPECT_FALSE(flow.start(QoS::at_most_once, 103));  // QoS 0 has no exchange
}

// MQTT 5 4.3.3: PUBREC, then PUBREL, then PUBCOMP ends it; the place is held until then.
TEST(OutboundFlow, QoS2EndsAtPubcomp) {
  OutboundFlow flow(terms(1));
  const auto id = flow.start(QoS::exactly_once, 7);
  ASSERT_TRUE(id);
  EXPECT_TRUE(flow.on_puback(*id, ReasonCode::success).out_of_turn);  // not for QoS 2
  EXPECT_TRUE(flow.on_pubcomp(*id).out_of_turn);                      // not before PUBREC
  auto rec = flow.on_pubrec(*id, ReasonCode::success);
  EXPECT_TRUE(rec.send_pubrel);
  EXPECT_FALSE(rec.finished);
  EXPECT_FALSE(flow.can_send());
  EXPECT_TRUE(flow.on_pubrec(*id, ReasonCode::success).send_pubrel);  // repeated: again
  const auto comp = flow.on_pubcomp(*id);
  EXPECT_EQ(comp.finished, 7u);
  EXPECT_TRUE(comp.delivered);
  EXPECT_TRUE(flow.can_send());
  EXPECT_FALSE(flow.on_pubcomp(*id).known);
}

// [MQTT-4.3.3-4]: a PUBREC with an error code ends the exchange, undelivered; PUBACK alike.
TEST(OutboundFlow, AnErrorCodeEndsTheExchangeUndelivered) {
  OutboundFlow flow(terms(5));
  const auto two = flow.start(QoS::exactly_once, 1);
  const auto one = flow.start(QoS::at_least_once, 2);
  const auto rec = flow.on_pubrec(*two, ReasonCode::quota_exceeded);
  EXPECT_EQ(rec.finished, 1u);
  EXPECT_FALSE(rec.delivered);
  EXPECT_FALSE(rec.send_pubrel);
  const auto ack = flow.on_puback(*one, ReasonCode::no_matching_subscribers);  // 0x10: success
  EXPECT_TRUE(ack.delivered);
  EXPECT_EQ(flow.in_flight(), 0u);
}

// MQTT 5 3.6.2.1: a PUBREC for an identifier herald does not know still gets a PUBREL
// (with 0x92); unknown PUBACK and PUBCOMP are ignored.
TEST(OutboundFlow, AnswersForUnknownIdentifiersChangeNothing) {
  OutboundFlow flow(terms(5));
  const auto id = flow.start(QoS::at_least_once, 1);
  const auto rec = flow.on_pubrec(999, ReasonCode::success);
  EXPECT_TRUE(rec.send_pubrel);
  EXPECT_FALSE(rec.known);
  EXPECT_FALSE(flow.on_puback(999, ReasonCode::success).known);
  EXPECT_FALSE(flow.on_pubcomp(999).known);
  EXPECT_EQ(flow.in_flight(), 1u);
}

// Mosquitto's FLOW sequences: the wrong answer to an exchange in flight is a protocol error
// for the session to end the connection with; the exchange itself is untouched.
TEST(OutboundFlow, AnAnswerOutOfTurnIsToldApart) {
  OutboundFlow flow(terms(5));
  const auto id = flow.start(QoS::at_least_once, 1);
  const auto rec = flow.on_pubrec(*id, ReasonCode::success);
  EXPECT_TRUE(rec.out_of_turn);
  EXPECT_FALSE(rec.send_pubrel);
  EXPECT_TRUE(flow.on_pubcomp(*id).out_of_turn);
  EXPECT_EQ(flow.on_puback(*id, ReasonCode::success).finished, 1u);
}

// MQTT 5 2.2.1: identifiers in use are never given again; they wrap after 65,535.
TEST(OutboundFlow, IdentifiersInUseAreSkippedAndWrap) {
  OutboundFlow flow(terms(65'535));
  std::set<uint16_t> seen;
  for (uint64_t i = 0; i < 65'535; ++i) {
    const auto id = flow.start(QoS::at_least_once, i);
    ASSERT_TRUE(id);
    ASSERT_NE(*id, 0);
    ASSERT_TRUE(seen.insert(*id).second) << *id;
  }
  EXPECT_FALSE(flow.can_send());
  flow.on_puback(300, ReasonCode::success);
  EXPECT_EQ(flow.start(QoS::at_least_once, 70'000), 300);  // the one free identifier
}

// MQTT 5 4.4 [MQTT-4.4.0-1]: on a new connection of the session, unanswered PUBLISHes and
// PUBRELs are sent again in their first order, under the new connection's quota.
TEST(OutboundFlow, AReconnectResendsInOrder) {
  OutboundFlow flow(terms(10));
  const auto a = flow.start(QoS::exactly_once, 1);
  const auto b = flow.start(QoS::at_least_once, 2);
  const auto c = flow.start(QoS::exactly_once, 3);
  flow.on_pubrec(*a, ReasonCode::success);
  EXPECT_EQ(flow.to_resend(), (std::vector<Resend>{{*a, 1, true}, {*b, 2, false}, {*c, 3, false}}));
  flow.reconnected(terms(3));
  EXPECT_FALSE(flow.can_send());
  flow.on_puback(*b, ReasonCode::success);
  EXPECT_TRUE(flow.can_send());
}

}  // namespace
}  // namespace herald::mqtt
