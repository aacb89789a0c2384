#include "mqtt/broker.h"

#include <gtest/gtest.h>

#include <vector>

namespace herald::mqtt {
namespace {

class RecordingSink : public SessionSink {
 public:
  void deliver(Outgoing outgoing) override { delivered.push_back(std::move(outgoing)); }
  void taken_over() override { ++takeovers; }

  std::vector<Outgoing> delivered;
  int takeovers = 0;
};

SharedMessage message(std::string topic, QoS qos, uint64_t sequence = 1, size_t size = 10) {
  auto m = std::make_shared<Message>();
  m->topic = std::move(topic);
  m->qos = qos;
  m->payload.assign(size, 'x');
  m->sequence = sequence;
  return m;
}

SubscriptionOptions at(QoS qos) {
  return SubscriptionOptions{.max_qos = qos};
}

struct Client {
  std::shared_ptr<RecordingSink> sink = std::make_shared<RecordingSink>();
  Broker::Attachment attachment;
};

class BrokerTest : public ::testing::Test {
 protected:
  Client connect(const std::string& client_id) {
    Client client;
    client.attachment = broker.attach(client_id, client.sink);
    return client;
  }

  Broker broker{BrokerLimits{.max_queued_messages = 3, .max_queued_bytes = 1000}};
};

TEST_F(BrokerTest, OneCopyPerSessionAtTheLowerQoSWithEveryIdentifier) {
  Client a = connect("a");
  broker.subscribe(a.attachment.id, "s/+", at(QoS::at_least_once), 7);
  broker.subscribe(a.attachment.id, "s/#", at(QoS::at_most_once), 9);
  const PublishResult result = broker.publish(message("s/1", QoS::exactly_once), std::nullopt);
  EXPECT_EQ(result.copies, 1u);
  ASSERT_EQ(a.sink->delivered.size(), 1u);
  EXPECT_EQ(a.sink->delivered[0].qos, QoS::at_least_once);
  EXPECT_EQ(a.sink->delivered[0].identifiers, (std::vector<uint32_t>{7, 9}));
  EXPECT_EQ(a.attachment.budget->messages(), 1u) << "the copy is charged to the subscriber";
}

TEST_F(BrokerTest, NoLocalLeavesThePublisherOut) {
  Client a = connect("a");
  Client b = connect("b");
  broker.subscribe(a.attachment.id, "t", SubscriptionOptions{.no_local = true}, std::nullopt);
  broker.subscribe(b.attachment.id, "t", SubscriptionOptions{}, std::nullopt);
  EXPECT_EQ(broker.publish(message("t", QoS::at_most_once), a.attachment.id).copies, 1u);
  EXPECT_TRUE(a.sink->delivered.empty());
  EXPECT_EQ(b.sink->delivered.size(), 1u);
}

TEST_F(BrokerTest, ASharedGroupGetsEachMessageOnceInTurn) {
  Client a = connect("a");
  Client b = connect("b");
  broker.subscribe(a.attachment.id, "$share/g/t", at(QoS::at_least_once), std::nullopt);
  broker.subscribe(b.attachment.id, "$share/g/t", at(QoS::at_least_once), std::nullopt);
  for (uint64_t i = 1; i <= 4; ++i) {
    EXPECT_EQ(broker.publish(message("t", QoS::at_least_once, i), std::nullopt).copies, 1u);
  }
  EXPECT_EQ(a.sink->delivered.size(), 2u);
  EXPECT_EQ(b.sink->delivered.size(), 2u);
}

TEST_F(BrokerTest, ASharedMemberWithAFullQueueIsPassedOver) {
  Client a = connect("a");
  Client b = connect("b");
  broker.subscribe(a.attachment.id, "$share/g/t", at(QoS::at_least_once), std::nullopt);
  broker.subscribe(b.attachment.id, "$share/g/t", at(QoS::at_least_once), std::nullopt);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a.attachment.budget->try_charge(1));
  for (uint64_t i = 1; i <= 4; ++i) broker.publish(message("t", QoS::at_least_once, i), std::nullopt);
  EXPECT_TRUE(a.sink->delivered.empty());
  EXPECT_EQ(b.sink->delivered.size(), 3u) << "b's own budget of 3 holds the rest";
}

TEST_F(BrokerTest, AQoS1CopyThatDoesNotFitRefusesTheWholeMessage) {
  Client a = connect("a");
  Client b = connect("b");
  broker.subscribe(a.attachment.id, "t", at(QoS::at_least_once), std::nullopt);
  broker.subscribe(b.attachment.id, "t", at(QoS::at_least_once), std::nullopt);
  ASSERT_TRUE(b.attachment.budget->try_charge(995));
  const PublishResult result = broker.publish(message("t", QoS::at_least_once), std::nullopt);
  EXPECT_TRUE(result.refused_full);
  EXPECT_EQ(result.copies, 0u);
  EXPECT_TRUE(a.sink->delivered.empty()) << "nothing queued for anyone";
  EXPECT_EQ(a.attachment.budget->messages(), 0u) << "a's charge was given back";
}

TEST_F(BrokerTest, AQoS0CopyThatDoesNotFitIsLeftOutAndCounted) {
  Client a = connect("a");
  Client b = connect("b");
  broker.subscribe(a.attachment.id, "t", at(QoS::at_least_once), std::nullopt);
  broker.subscribe(b.attachment.id, "t", at(QoS::at_most_once), std::nullopt);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(b.attachment.budget->try_charge(1));
  const PublishResult result = broker.publish(message("t", QoS::at_least_once), std::nullopt);
  EXPECT_FALSE(result.refused_full);
  EXPECT_EQ(result.copies, 1u);
  EXPECT_EQ(result.dropped_qos0, 1u);
  EXPECT_EQ(a.sink->delivered.size(), 1u);
}

TEST_F(BrokerTest, ASecondConnectionTakesTheSessionOver) {
  Client first = connect("device");
  broker.subscribe(first.attachment.id, "t", SubscriptionOptions{}, std::nullopt);
  Client second = connect("device");
  EXPECT_EQ(first.sink->takeovers, 1);
  EXPECT_EQ(broker.sessions(), 1u);
  EXPECT_EQ(broker.publish(message("t", QoS::at_most_once), std::nullopt).copies, 0u)
      << "the old connection's subscriptions went with it";
  EXPECT_FALSE(broker.subscribe(first.attachment.id, "t", SubscriptionOptions{}, std::nullopt));
  broker.detach(first.attachment.id);  // the old connection ending later changes nothing
  EXPECT_EQ(broker.sessions(), 1u);
}

TEST_F(BrokerTest, DetachEndsTheSubscriptions) {
  Client a = connect("a");
  broker.subscribe(a.attachment.id, "t", SubscriptionOptions{}, std::nullopt);
  EXPECT_EQ(broker.subscriptions_of(a.attachment.id), 1u);
  broker.detach(a.attachment.id);
  EXPECT_EQ(broker.sessions(), 0u);
  EXPECT_EQ(broker.publish(message("t", QoS::at_most_once), std::nullopt).copies, 0u);
}

}  // namespace
}  // namespace herald::mqtt
