#include "mqtt/broker.h"

#include <gtest/gtest.h>

#include <vector>

#include "mqtt/session_store.h"

namespace herald::mqtt {
namespace {

class RecordingSink : public SessionSink {
 public:
  void deliver(Outgoing outgoing) override { delivered.push_back(std::move(outgoing)); }
  void taken_over() override { ++takeovers; }
  void stored() override { ++stored_wakes; }

  std::vector<Outgoing> delivered;
  int takeovers = 0;
  int stored_wakes = 0;
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
    client.attachment = broker.attach(SessionOrigin{.client_id = client_id}, client.sink);
    return client;
  }

  Broker broker{BrokerLimits{.max_queued_messages = 3, .max_queued_bytes = 1000}};
};

TEST_F(BrokerTest, OneCopyPerSessionAtTheLowerQoSWithEveryIdentifier) {
  Client a = connect("a");
  broker.subscribe(a.attachment, "s/+", at(QoS::at_least_once), 7);
  broker.subscribe(a.attachment, "s/#", at(QoS::at_most_once), 9);
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
  broker.subscribe(a.attachment, "t", SubscriptionOptions{.no_local = true}, std::nullopt);
  broker.subscribe(b.attachment, "t", SubscriptionOptions{}, std::nullopt);
  EXPECT_EQ(broker.publish(message("t", QoS::at_most_once), a.attachment.id).copies, 1u);
  EXPECT_TRUE(a.sink->delivered.empty());
  EXPECT_EQ(b.sink->delivered.size(), 1u);
}

TEST_F(BrokerTest, ASharedGroupGetsEachMessageOnceInTurn) {
  Client a = connect("a");
  Client b = connect("b");
  broker.subscribe(a.attachment, "$share/g/t", at(QoS::at_least_once), std::nullopt);
  broker.subscribe(b.attachment, "$share/g/t", at(QoS::at_least_once), std::nullopt);
  for (uint64_t i = 1; i <= 4; ++i) {
    EXPECT_EQ(broker.publish(message("t", QoS::at_least_once, i), std::nullopt).copies, 1u);
  }
  EXPECT_EQ(a.sink->delivered.size(), 2u);
  EXPECT_EQ(b.sink->delivered.size(), 2u);
}

TEST_F(BrokerTest, ASharedMemberWithAFullQueueIsPassedOver) {
  Client a = connect("a");
  Client b = connect("b");
  broker.subscribe(a.attachment, "$share/g/t", at(QoS::at_least_once), std::nullopt);
  broker.subscribe(b.attachment, "$share/g/t", at(QoS::at_least_once), std::nullopt);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a.attachment.budget->try_charge(1));
  for (uint64_t i = 1; i <= 4; ++i)
    broker.publish(message("t", QoS::at_least_once, i), std::nullopt);
  EXPECT_TRUE(a.sink->delivered.empty());
  EXPECT_EQ(b.sink->delivered.size(), 3u) << "b's own budget of 3 holds the rest";
}

TEST_F(BrokerTest, AQoS1CopyThatDoesNotFitRefusesTheWholeMessage) {
  Client a = connect("a");
  Client b = connect("b");
  broker.subscribe(a.attachment, "t", at(QoS::at_least_once), std::nullopt);
  broker.subscribe(b.attachment, "t", at(QoS::at_least_once), std::nullopt);
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
  broker.subscribe(a.attachment, "t", at(QoS::at_least_once), std::nullopt);
  broker.subscribe(b.attachment, "t", at(QoS::at_most_once), std::nullopt);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(b.attachment.budget->try_charge(1));
  const PublishResult result = broker.publish(message("t", QoS::at_least_once), std::nullopt);
  EXPECT_FALSE(result.refused_full);
  EXPECT_EQ(result.copies, 1u);
  EXPECT_EQ(result.dropped_qos0, 1u);
  EXPECT_EQ(a.sink->delivered.size(), 1u);
}

TEST_F(BrokerTest, ASecondConnectionTakesTheSessionOver) {
  Client first = connect("device");
  broker.subscribe(first.attachment, "t", SubscriptionOptions{}, std::nullopt);
  Client second = connect("device");
  EXPECT_EQ(first.sink->takeovers, 1);
  EXPECT_EQ(broker.sessions(), 1u);
  EXPECT_EQ(broker.publish(message("t", QoS::at_most_once), std::nullopt).copies, 0u)
      << "the old connection's subscriptions went with it";
  EXPECT_FALSE(broker.subscribe(first.attachment, "t", SubscriptionOptions{}, std::nullopt));
  broker.detach(first.attachment, 0, {},
                TimePoint{});  // the old connection ending later changes nothing
  EXPECT_EQ(broker.sessions(), 1u);
}

TEST_F(BrokerTest, DetachEndsTheSubscriptions) {
  Client a = connect("a");
  broker.subscribe(a.attachment, "t", SubscriptionOptions{}, std::nullopt);
  EXPECT_EQ(broker.subscriptions_of(a.attachment.id), 1u);
  broker.detach(a.attachment, 0, {}, TimePoint{});
  EXPECT_EQ(broker.sessions(), 0u);
  EXPECT_EQ(broker.publish(message("t", QoS::at_most_once), std::nullopt).copies, 0u);
}

TEST_F(BrokerTest, SnapshotShowsEachSessionInClientIdOrderWithWhatItHolds) {
  const TimePoint connected = TimePoint(std::chrono::seconds(1'700'000'000));
  Client b;
  b.attachment = broker.attach(SessionOrigin{.client_id = "b",
                                             .peer = "127.0.0.1:40000",
                                             .version = ProtocolVersion::v3_1_1,
                                             .connected = connected},
                               b.sink);
  Client a = connect("a");
  broker.subscribe(b.attachment, "s/+", at(QoS::at_least_once), std::nullopt);
  broker.subscribe(b.attachment, "$share/g/other", at(QoS::at_least_once), std::nullopt);
  broker.subscribe(b.attachment, "s/+", at(QoS::at_most_once), std::nullopt);  // replaced
  const SharedMessage s1 = message("s/1", QoS::at_least_once, 1, 10);
  const SharedMessage s2 = message("s/2", QoS::at_least_once, 2, 20);
  broker.publish(s1, std::nullopt);
  broker.publish(s2, std::nullopt);
  b.attachment.stats->in_flight = 1;  // as the session sets it once it sends one

  const SessionList list = broker.snapshot(std::nullopt);
  EXPECT_EQ(list.total, 2u);
  ASSERT_EQ(list.sessions.size(), 2u);
  EXPECT_EQ(list.sessions[0].client_id, "a");
  EXPECT_EQ(list.sessions[0].subscriptions, 0u);
  EXPECT_EQ(list.sessions[0].held, 0u);
  EXPECT_EQ(list.sessions[1], (SessionSnapshot{.client_id = "b",
                                               .peer = "127.0.0.1:40000",
                                               .version = ProtocolVersion::v3_1_1,
                                               .connected = connected,
                                               .subscriptions = 2,
                                               .held = 2,
                                               .held_bytes = s1->size() + s2->size(),
                                               .in_flight = 1}))
      << "two filters (one replaced), two messages charged";
}

TEST_F(BrokerTest, SnapshotStopsAtItsLimitAndStillCountsEverySession) {
  std::vector<Client> clients;
  for (const char* id : {"delta", "alpha", "charlie", "bravo"}) clients.push_back(connect(id));
  const SessionList list = broker.snapshot(2);
  EXPECT_EQ(list.total, 4u);
  ASSERT_EQ(list.sessions.size(), 2u);
  EXPECT_EQ(list.sessions[0].client_id, "alpha");
  EXPECT_EQ(list.sessions[1].client_id, "bravo");
  EXPECT_EQ(broker.snapshot(0).sessions.size(), 0u);
  EXPECT_EQ(broker.snapshot(10).sessions.size(), 4u);
}

TEST_F(BrokerTest, SnapshotForgetsDetachedSessionsAndUnsubscribedFilters) {
  Client a = connect("a");
  Client b = connect("b");
  broker.subscribe(a.attachment, "t", SubscriptionOptions{}, std::nullopt);
  broker.subscribe(a.attachment, "u", SubscriptionOptions{}, std::nullopt);
  EXPECT_TRUE(broker.unsubscribe(a.attachment, "t"));
  EXPECT_FALSE(broker.unsubscribe(a.attachment, "t"));
  broker.detach(b.attachment, 0, {}, TimePoint{});
  const SessionList list = broker.snapshot(std::nullopt);
  EXPECT_EQ(list.total, 1u);
  ASSERT_EQ(list.sessions.size(), 1u);
  EXPECT_EQ(list.sessions[0].subscriptions, 1u);
  Client again = connect("a");  // a takeover starts the count afresh
  EXPECT_EQ(broker.snapshot(std::nullopt).sessions.at(0).subscriptions, 0u);
}

// --- persistent sessions ----------------------------------------------------------------

class PersistentBrokerTest : public BrokerTest {
 protected:
  Client connect_persistent(const std::string& client_id, bool clean_start = false,
                            uint32_t expiry = 3600) {
    Client client;
    client.attachment =
        broker.attach(SessionOrigin{.client_id = client_id}, client.sink,
                      SessionLife{.clean_start = clean_start, .expiry_interval = expiry});
    return client;
  }
  static std::vector<StoredSubscription> held(std::string filter, QoS qos) {
    return {StoredSubscription{.filter = std::move(filter),
                               .options = stored_options(SubscriptionOptions{.max_qos = qos})}};
  }

  const TimePoint now = TimePoint(std::chrono::seconds(1'700'000'000));
};

TEST_F(PersistentBrokerTest, CopiesAboveQoS0ForAPersistentSessionAreKeptNotQueuedInMemory) {
  Client a = connect_persistent("a");
  broker.subscribe(a.attachment, "t/#", at(QoS::exactly_once), 4);
  const PublishResult result = broker.publish(message("t/1", QoS::at_least_once), std::nullopt);
  EXPECT_EQ(result.copies, 1u);
  ASSERT_EQ(result.kept.size(), 1u);
  EXPECT_EQ(result.kept[0].client_id, "a");
  EXPECT_EQ(result.kept[0].fields.qos, 1);
  EXPECT_EQ(result.kept[0].fields.identifiers, (std::vector<uint32_t>{4}));
  EXPECT_TRUE(a.sink->delivered.empty());
  EXPECT_EQ(a.attachment.budget->messages(), 0u);
  // QoS 0 reaches an online persistent session like any other.
  EXPECT_TRUE(broker.publish(message("t/1", QoS::at_most_once), std::nullopt).kept.empty());
  EXPECT_EQ(a.sink->delivered.size(), 1u);
}

TEST_F(PersistentBrokerTest, AnOfflineSessionKeepsItsSubscriptionsUntilItExpires) {
  Client a = connect_persistent("a", true, 10);
  broker.subscribe(a.attachment, "t", at(QoS::at_least_once), std::nullopt);
  broker.detach(a.attachment, 10, held("t", QoS::at_least_once), now);
  EXPECT_EQ(broker.sessions(), 1u);
  EXPECT_EQ(broker.publish(message("t", QoS::at_least_once), std::nullopt).kept.size(), 1u);
  EXPECT_EQ(broker.publish(message("t", QoS::at_most_once), std::nullopt).copies, 0u)
      << "QoS 0 is not kept for a session that is away";
  EXPECT_TRUE(broker.take_expired(now + std::chrono::seconds(9)).empty());
  EXPECT_EQ(broker.take_expired(now + std::chrono::seconds(10)), std::vector<std::string>{"a"});
  EXPECT_EQ(broker.sessions(), 0u);
  EXPECT_EQ(broker.publish(message("t", QoS::at_least_once), std::nullopt).copies, 0u);
}

TEST_F(PersistentBrokerTest, ResumingGivesBackTheSubscriptionsAndStopsTheExpiry) {
  Client a = connect_persistent("a", true, 10);
  broker.subscribe(a.attachment, "t", at(QoS::at_least_once), std::nullopt);
  broker.detach(a.attachment, 10, held("t", QoS::at_least_once), now);
  Client again = connect_persistent("a");
  ASSERT_TRUE(again.attachment.resumed.has_value());
  EXPECT_EQ(*again.attachment.resumed, held("t", QoS::at_least_once));
  EXPECT_EQ(again.attachment.id, a.attachment.id);
  EXPECT_TRUE(broker.take_expired(now + std::chrono::hours(1)).empty());
  // The old connection's late calls touch nothing of the new one's.
  EXPECT_FALSE(broker.unsubscribe(a.attachment, "t"));
  broker.detach(a.attachment, 0, {}, now);
  EXPECT_EQ(broker.publish(message("t", QoS::at_least_once), std::nullopt).kept.size(), 1u);
}

TEST_F(PersistentBrokerTest, CleanStartEndsAStoredSessionAndSaysSo) {
  Client a = connect_persistent("a", true);
  broker.subscribe(a.attachment, "t", at(QoS::at_least_once), std::nullopt);
  broker.detach(a.attachment, 3600, held("t", QoS::at_least_once), now);
  Client fresh = connect_persistent("a", true);
  EXPECT_FALSE(fresh.attachment.resumed.has_value());
  EXPECT_TRUE(fresh.attachment.discarded);
  EXPECT_EQ(broker.publish(message("t", QoS::at_least_once), std::nullopt).copies, 0u);
}

TEST_F(PersistentBrokerTest, RestoredSessionsRouteAndExpireFromWhenTheyDisconnected) {
  MqttSessionRecord record{.client_id = "valve",
                           .expiry_interval = 60,
                           .disconnected_at = now - std::chrono::seconds(50),
                           .subscriptions = held("plant/+/alarm", QoS::exactly_once)};
  ASSERT_TRUE(broker.restore(record, now));
  const PublishResult result =
      broker.publish(message("plant/boiler/alarm", QoS::exactly_once), std::nullopt);
  ASSERT_EQ(result.kept.size(), 1u);
  EXPECT_EQ(result.kept[0].fields.qos, 2);
  EXPECT_EQ(broker.take_expired(now + std::chrono::seconds(10)), std::vector<std::string>{"valve"});
  record.subscriptions[0].options = 0xFF;
  EXPECT_FALSE(broker.restore(record, now)) << "a subscription that does not parse";
}

TEST_F(PersistentBrokerTest, StoredWakesOnlyOnlineSessions) {
  Client a = connect_persistent("a");
  Client b = connect_persistent("b");
  broker.detach(b.attachment, 3600, {}, now);
  broker.stored({"a", "b", "nobody"});
  EXPECT_EQ(a.sink->stored_wakes, 1);
  EXPECT_EQ(b.sink->stored_wakes, 0);
}

}  // namespace
}  // namespace herald::mqtt
