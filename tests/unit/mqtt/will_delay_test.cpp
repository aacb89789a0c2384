// The Will Delay Interval (MQTT 5 3.1.3.2.2) and the session's end: real Sessions, one real
// Broker and a real RocksDB store behind a StoreWorker, the will sweep run as the daemon's
// one-second timer would, on a clock the test moves.
#include <gtest/gtest.h>

#include <filesystem>
#include <list>

#include "mqtt/session_test_support.h"
#include "mqtt/store_worker.h"
#include "mqtt/will_sweep.h"
#include "store/store.h"

namespace herald::mqtt {
namespace {

constexpr uint32_t kHour = 3600;

class WillDelayTest : public ::testing::Test {
 protected:
  WillDelayTest() {
    options.terms.max_session_expiry = 7 * 24 * kHour;
    options.memory = &memory;
    std::filesystem::remove_all(directory);
    store = open_rocksdb_store(directory, StoreMode::read_write);
    worker = std::make_unique<StoreWorker>(*store, *broker, clock, &memory);
    watcher = &connect("watcher", 0);
    Subscribe subscribe{.packet_id = 1};
    subscribe.subscriptions.push_back(
        {"wills/#", SubscriptionOptions{.max_qos = QoS::at_least_once}});
    watcher->send(subscribe);
    settle();
    EXPECT_EQ(watcher->read_all<Suback>().size(), 1u);
  }
  ~WillDelayTest() override {
    clients.clear();
    worker.reset();
    store.reset();
    std::filesystem::remove_all(directory);
  }

  // CONNECT (with `will` when given), the login granted, the store asked until it is done.
  Client& connect(const std::string& client_id, uint32_t expiry, std::optional<Will> will = {},
                  bool clean = true, bool expect_present = false) {
    Client& client = clients.emplace_back();
    client.version = ProtocolVersion::v5;
    client.decoder.set_version(ProtocolVersion::v5);
    client.session = std::make_unique<Session>(options, broker, clock, client.sink, "127.0.0.1:1");
    Connect connect{.clean_start = clean, .client_id = client_id, .will = std::move(will)};
    if (expiry > 0) connect.properties.session_expiry_interval = expiry;
    client.send(connect);
    client.session->on_login(everything);
    settle();
    const auto connacks = client.read_all<Connack>();
    EXPECT_EQ(connacks.size(), 1u);
    if (!connacks.empty()) {
      EXPECT_EQ(connacks[0].reason, ReasonCode::success);
      EXPECT_EQ(connacks[0].session_present, expect_present);
    }
    return client;
  }

  // A will on "wills/<name>" with a delay, at QoS 1.
  static Will will(const std::string& name, uint32_t delay) {
    Will w{.topic = "wills/" + name, .payload = name + " is gone", .qos = QoS::at_least_once};
    w.properties.will_delay_interval = delay;
    return w;
  }

  void settle() { settle_with_store(clients, *worker); }

  // Moves the clock on and runs the daemon's sweep: sessions expire, then wills go.
  size_t sweep_after(std::chrono::seconds elapsed) {
    clock.advance(elapsed);
    worker->end_expired_sessions();
    const size_t published = publish_due_wills(*broker, *worker, clock.now());
    settle();
    return published;
  }

  // The wills the watcher got (each acknowledged).
  std::vector<std::string> wills_seen() {
    std::vector<std::string> payloads;
    for (const Publish& p : watcher->read_all<Publish>()) {
      payloads.push_back(p.payload);
      watcher->send(Puback{.packet_id = p.packet_id});
    }
    settle();
    return payloads;
  }

  using Seen = std::vector<std::string>;

  const std::filesystem::path directory =
      std::filesystem::temp_directory_path() / ("herald-will-delay-" + std::to_string(::getpid()));
  ManualClock clock{kStart};
  InFlightBudget memory{1024 * 1024};
  SessionOptions options;
  std::unique_ptr<Store> store;
  std::shared_ptr<Broker> broker = std::make_shared<Broker>(BrokerLimits{});
  std::unique_ptr<StoreWorker> worker;
  const std::shared_ptr<const Grant> everything = std::make_shared<Grant>(
      "", std::vector<std::string>{"#"}, std::vector<std::string>{"#"}, std::vector<std::string>{});
  std::list<Client> clients;
  Client* watcher = nullptr;
};

TEST_F(WillDelayTest, TheWillWaitsOutItsDelayAndStaysChargedMeanwhile) {
  const uint64_t before = memory.in_use();
  connect("pump", kHour, will("pump", 10)).session->on_connection_lost();
  settle();
  EXPECT_TRUE(wills_seen().empty()) << "not at once";
  EXPECT_EQ(broker->pending_wills(), 1u);
  EXPECT_EQ(memory.in_use(), before + std::string("wills/pump"
                                                  "pump is gone")
                                          .size())
      << "the waiting will is held against the shared memory budget";
  EXPECT_EQ(sweep_after(std::chrono::seconds(9)), 0u);
  EXPECT_TRUE(wills_seen().empty()) << "a second early";
  EXPECT_EQ(sweep_after(std::chrono::seconds(1)), 1u);
  EXPECT_EQ(wills_seen(), Seen{"pump is gone"});
  EXPECT_EQ(broker->pending_wills(), 0u);
  EXPECT_EQ(memory.in_use(), before) << "given back once the copy was acknowledged";
}

TEST_F(WillDelayTest, AConnectionResumingTheSessionBeforeTheDelayCancelsTheWill) {
  const uint64_t before = memory.in_use();
  connect("pump", kHour, will("pump", 10)).session->on_connection_lost();
  settle();
  sweep_after(std::chrono::seconds(5));
  Client& again = connect("pump", kHour, std::nullopt, false, true);
  EXPECT_EQ(broker->pending_wills(), 0u) << "[MQTT-3.1.3-9]";
  EXPECT_EQ(memory.in_use(), before) << "the dropped will gives its charge back";
  EXPECT_EQ(sweep_after(std::chrono::seconds(60)), 0u);
  EXPECT_TRUE(wills_seen().empty());
  again.send(Disconnect{});
  settle();
  EXPECT_EQ(sweep_after(std::chrono::seconds(60)), 0u) << "the new connection left no will";
}

TEST_F(WillDelayTest, ATakeoverThatResumesTheSessionSendsNoWill) {
  connect("pump", kHour, will("pump", 10));
  connect("pump", kHour, std::nullopt, false, true);  // the first is taken over (settle)
  EXPECT_EQ(broker->pending_wills(), 0u);
  EXPECT_EQ(sweep_after(std::chrono::seconds(60)), 0u);
  EXPECT_TRUE(wills_seen().empty());
}

TEST_F(WillDelayTest, ASessionExpiryShorterThanTheDelayPublishesTheWillAtTheExpiry) {
  connect("pump", 5, will("pump", 60)).session->on_connection_lost();
  settle();
  EXPECT_EQ(sweep_after(std::chrono::seconds(4)), 0u);
  EXPECT_TRUE(wills_seen().empty());
  EXPECT_EQ(sweep_after(std::chrono::seconds(1)), 1u);
  EXPECT_EQ(wills_seen(), Seen{"pump is gone"});
  EXPECT_EQ(broker->sessions(), 1u) << "the session ended with it: only the watcher is left";
}

TEST_F(WillDelayTest, CleanStartEndsTheStoredSessionAndItsWillGoes) {
  connect("pump", kHour, will("pump", 60)).session->on_connection_lost();
  settle();
  sweep_after(std::chrono::seconds(2));
  connect("pump", kHour, std::nullopt, true, false);
  EXPECT_EQ(sweep_after(std::chrono::seconds(0)), 1u) << "due at once, long before its delay";
  EXPECT_EQ(wills_seen(), Seen{"pump is gone"});
}

TEST_F(WillDelayTest, ACleanStartTakeoverOfAnOnlineSessionPublishesItsWill) {
  connect("pump", kHour, will("pump", 60));
  connect("pump", kHour, std::nullopt, true, false);  // the first is taken over (settle)
  EXPECT_EQ(sweep_after(std::chrono::seconds(0)), 1u);
  EXPECT_EQ(wills_seen(), Seen{"pump is gone"});
}

TEST_F(WillDelayTest, ASessionThatEndsWithItsConnectionPublishesTheWillAtOnce) {
  connect("pump", 0, will("pump", 60)).session->on_connection_lost();
  settle();
  EXPECT_EQ(wills_seen(), Seen{"pump is gone"});
  EXPECT_EQ(broker->pending_wills(), 0u);

  Client& valve = connect("valve", kHour, will("valve", 60));
  Disconnect disconnect{.reason = ReasonCode::disconnect_with_will_message};
  disconnect.properties.session_expiry_interval = 0;
  valve.send(disconnect);
  settle();
  EXPECT_EQ(wills_seen(), Seen{"valve is gone"}) << "a DISCONNECT that ends the session";
}

TEST_F(WillDelayTest, AWaitingWillReachesAwaySessionsAndTheRetainedStoreWithItsExpiryFromThen) {
  Client& away = connect("away", kHour);
  Subscribe subscribe{.packet_id = 1};
  subscribe.subscriptions.push_back(
      {"wills/#", SubscriptionOptions{.max_qos = QoS::at_least_once}});
  away.send(subscribe);
  settle();
  away.send(Disconnect{});
  settle();
  Will retained = will("pump", 10);
  retained.retain = true;
  retained.properties.message_expiry_interval = 30;
  connect("pump", kHour, retained).session->on_connection_lost();
  settle();
  EXPECT_TRUE(store->retained("wills/", "", 10).empty());
  sweep_after(std::chrono::seconds(10));
  const auto copies = watcher->read_all<Publish>();
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].properties.message_expiry_interval, 30u)
      << "the expiry counts from the publication, not from the connection's end";
  const std::vector<RetainedMessage> kept = store->retained("wills/", "", 10);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].payload, "pump is gone");
  Client& back = connect("away", kHour, std::nullopt, false, true);
  back.read();
  std::vector<Publish> queued;  // everything read, the packets right behind the CONNACK too
  for (const Packet& packet : back.received) {
    if (const auto* p = std::get_if<Publish>(&packet)) queued.push_back(*p);
  }
  ASSERT_EQ(queued.size(), 1u) << "committed to the away session's queue";
  EXPECT_EQ(queued[0].payload, "pump is gone");
}

}  // namespace
}  // namespace herald::mqtt
