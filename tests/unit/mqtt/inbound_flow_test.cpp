#include "mqtt/inbound_flow.h"

#include <gtest/gtest.h>

#include <string>

namespace herald::mqtt {
namespace {

SessionTerms terms(uint16_t receive_maximum = 3, uint16_t alias_maximum = 2) {
  SessionTerms t;
  t.server_receive_maximum = receive_maximum;
  t.server_topic_alias_maximum = alias_maximum;
  return t;
}

Publish publish(QoS qos, uint16_t packet_id, std::string topic = "a/b") {
  Publish p;
  p.qos = qos;
  p.packet_id = packet_id;
  p.topic = std::move(topic);
  return p;
}

Publish aliased(std::string topic, uint16_t alias) {
  Publish p = publish(QoS::at_most_once, 0, std::move(topic));
  p.properties.topic_alias = alias;
  return p;
}

using Result = std::variant<PublishStep, FlowViolation>;

ReasonCode violation_of(const Result& r) {
  EXPECT_TRUE(std::holds_alternative<FlowViolation>(r));
  return std::holds_alternative<FlowViolation>(r) ? std::get<FlowViolation>(r).reason
                                                  : ReasonCode::success;
}

TEST(InboundFlow, QoS0IsStoredWithNothingKept) {
  InboundFlow flow(terms());
  for (int i = 0; i < 10; ++i) {
    Publish p = publish(QoS::at_most_once, 0);
    EXPECT_EQ(flow.on_publish(p), Result(PublishStep::store));
  }
  EXPECT_EQ(flow.unanswered(), 0u);
}

// MQTT 5 4.3.2: one PUBACK ends a QoS 1 exchange and frees its place.
TEST(InboundFlow, QoS1CountsUntilAcknowledged) {
  InboundFlow flow(terms());
  Publish p = publish(QoS::at_least_once, 7);
  EXPECT_EQ(flow.on_publish(p), Result(PublishStep::store));
  EXPECT_EQ(flow.unanswered(), 1u);
  // A resend while it is being stored: the acknowledgement to come answers it.
  Publish again = publish(QoS::at_least_once, 7);
  again.dup = true;
  EXPECT_EQ(flow.on_publish(again), Result(PublishStep::already_taking));
  flow.acknowledged(7, true);
  EXPECT_EQ(flow.unanswered(), 0u);
  // Acknowledged, the identifier is free for a new message.
  EXPECT_EQ(flow.on_publish(p), Result(PublishStep::store));
}

// MQTT 5 4.3.3 [MQTT-4.3.3-10]: until PUBREL, a resent QoS 2 PUBLISH is answered with
// PUBREC again and not delivered twice; PUBCOMP frees its place.
TEST(InboundFlow, QoS2IsTakenExactlyOnce) {
  InboundFlow flow(terms());
  Publish p = publish(QoS::exactly_once, 9);
  EXPECT_EQ(flow.on_publish(p), Result(PublishStep::store));
  EXPECT_EQ(flow.on_publish(p), Result(PublishStep::already_taking));
  flow.acknowledged(9, true);  // PUBREC sent
  EXPECT_EQ(flow.unanswered(), 1u);
  p.dup = true;
  EXPECT_EQ(flow.on_publish(p), Result(PublishStep::answer_again));
  EXPECT_TRUE(flow.on_pubrel(9));
  EXPECT_EQ(flow.unanswered(), 0u);
  EXPECT_FALSE(flow.on_pubrel(9));  // PUBCOMP 0x92 for a second one
  // After PUBCOMP the identifier starts a new message.
  p.dup = false;
  EXPECT_EQ(flow.on_publish(p), Result(PublishStep::store));
}

TEST(InboundFlow, AQoS2MessageThatCouldNotBeStoredEndsAtItsPubrec) {
  InboundFlow flow(terms());
  Publish p = publish(QoS::exactly_once, 4);
  EXPECT_EQ(flow.on_publish(p), Result(PublishStep::store));
  flow.acknowledged(4, false);  // PUBREC 0x97 quota exceeded, say
  EXPECT_EQ(flow.unanswered(), 0u);
  EXPECT_FALSE(flow.on_pubrel(4));
}

TEST(InboundFlow, PubrelBeforePubrecIsNotFound) {
  InboundFlow flow(terms());
  Publish p = publish(QoS::exactly_once, 5);
  EXPECT_EQ(flow.on_publish(p), Result(PublishStep::store));
  EXPECT_FALSE(flow.on_pubrel(5));
  EXPECT_EQ(flow.unanswered(), 1u);  // still being stored; its PUBREC will come
}

TEST(InboundFlow, AQoS1PublishOnAnIdentifierAQoS2ExchangeHoldsIsRefused) {
  InboundFlow flow(terms());
  Publish two = publish(QoS::exactly_once, 3);
  EXPECT_EQ(flow.on_publish(two), Result(PublishStep::store));
  flow.acknowledged(3, true);
  Publish one = publish(QoS::at_least_once, 3);
  EXPECT_EQ(violation_of(flow.on_publish(one)), ReasonCode::packet_identifier_in_use);
}

// MQTT 5 3.3.4 [MQTT-3.3.4-9]: more unanswered QoS 1 and 2 PUBLISHes than the Receive
// Maximum ends the connection with 0x93; the acknowledged ones do not count.
TEST(InboundFlow, ReceiveMaximumCountsQoS1And2UntilAnswered) {
  InboundFlow flow(terms(3));
  Publish a = publish(QoS::at_least_once, 1);
  Publish b = publish(QoS::exactly_once, 2);
  Publish c = publish(QoS::exactly_once, 3);
  Publish d = publish(QoS::at_least_once, 4);
  EXPECT_EQ(flow.on_publish(a), Result(PublishStep::store));
  EXPECT_EQ(flow.on_publish(b), Result(PublishStep::store));
  EXPECT_EQ(flow.on_publish(c), Result(PublishStep::store));
  Publish zero = publish(QoS::at_most_once, 0);
  EXPECT_EQ(flow.on_publish(zero), Result(PublishStep::store));  // QoS 0 is not counted
  EXPECT_EQ(violation_of(flow.on_publish(d)), ReasonCode::receive_maximum_exceeded);
  flow.acknowledged(1, true);
  EXPECT_EQ(flow.on_publish(d), Result(PublishStep::store));
  flow.acknowledged(2, true);  // PUBREC: still counts until PUBREL and PUBCOMP
  Publish e = publish(QoS::at_least_once, 5);
  EXPECT_EQ(violation_of(flow.on_publish(e)), ReasonCode::receive_maximum_exceeded);
  EXPECT_TRUE(flow.on_pubrel(2));
  EXPECT_EQ(flow.on_publish(e), Result(PublishStep::store));
}

// MQTT 5 3.3.2.3.4: an alias with a topic sets it, an alias alone uses it; the alias is not
// passed on.
TEST(InboundFlow, TopicAliasesAreSetAndUsed) {
  InboundFlow flow(terms());
  Publish set = aliased("home/kitchen/temperature", 1);
  EXPECT_EQ(flow.on_publish(set), Result(PublishStep::store));
  EXPECT_EQ(set.topic, "home/kitchen/temperature");
  EXPECT_FALSE(set.properties.topic_alias);
  Publish use = aliased("", 1);
  EXPECT_EQ(flow.on_publish(use), Result(PublishStep::store));
  EXPECT_EQ(use.topic, "home/kitchen/temperature");
  EXPECT_FALSE(use.properties.topic_alias);
  Publish reset = aliased("home/hall/door", 1);  // an alias may be set again
  EXPECT_EQ(flow.on_publish(reset), Result(PublishStep::store));
  Publish use_again = aliased("", 1);
  EXPECT_EQ(flow.on_publish(use_again), Result(PublishStep::store));
  EXPECT_EQ(use_again.topic, "home/hall/door");
}

TEST(InboundFlow, AnAliasOverTheMaximumOrNeverSetEndsTheConnection) {
  InboundFlow flow(terms(3, 2));
  Publish over = aliased("a", 3);
  EXPECT_EQ(violation_of(flow.on_publish(over)), ReasonCode::topic_alias_invalid);
  Publish unknown = aliased("", 2);
  EXPECT_EQ(violation_of(flow.on_publish(unknown)), ReasonCode::protocol_error);
  InboundFlow none(terms(3, 0));  // MQTT 3.1.1, or aliases turned off
  Publish any = aliased("a", 1);
  EXPECT_EQ(violation_of(none.on_publish(any)), ReasonCode::topic_alias_invalid);
}

}  // namespace
}  // namespace herald::mqtt
