// Persistent sessions and retained messages end to end below the sockets: real Sessions, one
// real Broker, and a real RocksDB store behind a StoreWorker, each store request run as the
// connection would run it (tests/unit/mqtt/session_test_support.h speaks the packets).
#include <gtest/gtest.h>

#include <filesystem>
#include <list>
#include <map>

#include "mqtt/session_test_support.h"
#include "mqtt/store_worker.h"
#include "store/store.h"

namespace herald::mqtt {
namespace {

constexpr uint32_t kHour = 3600;

class PersistentSessionTest : public ::testing::Test {
 protected:
  PersistentSessionTest() {
    options.terms.max_session_expiry = 7 * 24 * kHour;
    std::filesystem::remove_all(directory);
    reopen();
  }
  ~PersistentSessionTest() override {
    clients.clear();
    worker.reset();
    store.reset();
    std::filesystem::remove_all(directory);
  }

  // A restart: the sessions go, a new broker is rebuilt from what the store kept.
  size_t reopen() {
    clients.clear();
    early.clear();
    worker.reset();
    store.reset();
    clock.advance(std::chrono::seconds(1));  // a restart takes its time
    store = open_rocksdb_store(directory, StoreMode::read_write);
    broker = std::make_shared<Broker>(BrokerLimits{});
    worker = std::make_unique<StoreWorker>(*store, *broker, clock, nullptr);
    return worker->restore_sessions();
  }

  Client& open() {
    Client& client = clients.emplace_back();
    client.version = ProtocolVersion::v5;
    client.decoder.set_version(ProtocolVersion::v5);
    client.session = std::make_unique<Session>(options, broker, clock, client.sink, "127.0.0.1:1");
    return client;
  }

  // CONNECT with a session expiry, the login granted, the store asked until it is done.
  Client& connect(const std::string& client_id, uint32_t expiry = kHour, bool clean = true,
                  bool expect_present = false) {
    Client& client = open();
    Connect connect{.clean_start = clean, .client_id = client_id};
    if (expiry > 0) connect.properties.session_expiry_interval = expiry;
    client.send(connect);
    client.session->on_login(everything);
    settle();
    std::vector<Packet> packets = client.read();
    EXPECT_FALSE(packets.empty());
    if (packets.empty()) return client;
    const auto* connack = std::get_if<Connack>(&packets[0]);
    EXPECT_TRUE(connack) << "the CONNACK comes first";
    if (connack) {
      EXPECT_EQ(connack->reason, ReasonCode::success);
      EXPECT_EQ(connack->session_present, expect_present);
    }
    // What a resumed session is sent at once after it, for take().
    early[&client].assign(packets.begin() + 1, packets.end());
    return client;
  }

  void settle() { settle_with_store(clients, *worker); }

  void subscribe(Client& client, const std::string& filter, QoS qos = QoS::at_least_once,
                 RetainHandling handling = RetainHandling::send_on_subscribe) {
    Subscribe subscribe{.packet_id = 1};
    subscribe.subscriptions.push_back(
        {filter, SubscriptionOptions{.max_qos = qos, .retain_handling = handling}});
    client.send(subscribe);
    settle();
    std::vector<Packet> packets = client.read();
    ASSERT_FALSE(packets.empty());
    const auto* suback = std::get_if<Suback>(&packets[0]);
    ASSERT_TRUE(suback) << "the SUBACK comes before the retained messages";
    EXPECT_EQ(suback->reasons, std::vector<ReasonCode>{static_cast<ReasonCode>(qos)});
    auto& waiting = early[&client];
    waiting.insert(waiting.end(), packets.begin() + 1, packets.end());
  }

  // A session that subscribes and goes away.
  void away(const std::string& client_id, const std::string& filter, QoS qos) {
    Client& client = connect(client_id);
    subscribe(client, filter, qos);
    client.send(Disconnect{});
    settle();
  }

  static Publish publish(const std::string& topic, QoS qos, uint16_t id, std::string payload,
                         bool retain = false) {
    return Publish{.qos = qos,
                   .retain = retain,
                   .topic = topic,
                   .packet_id = id,
                   .payload = std::move(payload)};
  }

  // The PUBLISHes the client was sent, each answered (PUBACK, or PUBREC then PUBCOMP).
  std::vector<Publish> take(Client& client) {
    std::vector<Publish> got;
    for (bool more = true; more;) {
      more = false;
      std::vector<Packet> packets = std::move(early[&client]);
      early.erase(&client);
      for (Packet& packet : client.read()) packets.push_back(std::move(packet));
      for (Packet& packet : packets) {
        if (auto* p = std::get_if<Publish>(&packet)) {
          got.push_back(*p);
          if (p->qos == QoS::at_least_once) client.send(Puback{.packet_id = p->packet_id});
          if (p->qos == QoS::exactly_once) client.send(Pubrec{.packet_id = p->packet_id});
          more = true;
        } else if (auto* rel = std::get_if<Pubrel>(&packet)) {
          client.send(Pubcomp{.packet_id = rel->packet_id});
          more = true;
        }
      }
      settle();
    }
    return got;
  }

  static std::vector<std::string> payloads(const std::vector<Publish>& publishes) {
    std::vector<std::string> out;
    for (const Publish& p : publishes) out.push_back(p.payload);
    return out;
  }

  std::vector<Delivery> deliveries_of(std::string_view message_id) {
    return store->deliveries(message_id);
  }

  const std::filesystem::path directory =
      std::filesystem::temp_directory_path() /
      ("herald-persistent-session-" + std::to_string(::getpid()));
  ManualClock clock{kStart};
  SessionOptions options;
  std::unique_ptr<Store> store;
  std::shared_ptr<Broker> broker;
  std::unique_ptr<StoreWorker> worker;
  const std::shared_ptr<const Grant> everything = std::make_shared<Grant>(
      "", std::vector<std::string>{"#"}, std::vector<std::string>{"#"}, std::vector<std::string>{});
  std::list<Client> clients;
  std::map<const Client*, std::vector<Packet>> early;
};

TEST_F(PersistentSessionTest, APubackForAnAwaySessionComesOnlyAfterTheCommit) {
  away("pump", "plant/#", QoS::at_least_once);
  Client& publisher = connect("publisher", 0);
  publisher.send(publish("plant/pressure", QoS::at_least_once, 3, "2 bar"));
  EXPECT_TRUE(publisher.read().empty()) << "nothing is answered before the store has it";
  std::optional<StoreRequest> request = publisher.session->take_store_request();
  ASSERT_TRUE(request);
  ASSERT_EQ(request->publishes.size(), 1u);
  ASSERT_EQ(request->publishes[0].copies.size(), 1u);
  EXPECT_EQ(request->publishes[0].copies[0].client_id, "pump");
  const StoreResult result = worker->perform(*request);
  ASSERT_TRUE(result.ok) << result.error;
  ASSERT_EQ(result.message_ids.size(), 1u);
  publisher.session->on_stored(result);
  const auto pubacks = publisher.read_all<Puback>();
  ASSERT_EQ(pubacks.size(), 1u);
  EXPECT_EQ(pubacks[0].reason, ReasonCode::success);

  const std::optional<MessageRecord> record = store->message(result.message_ids[0]);
  ASSERT_TRUE(record && record->mqtt);
  EXPECT_EQ(record->mqtt->topic, "plant/pressure");
  EXPECT_EQ(record->envelope.listener, "mqtt");
  const std::vector<Delivery> deliveries = deliveries_of(record->id);
  ASSERT_EQ(deliveries.size(), 1u);
  EXPECT_EQ(deliveries[0].transport, mqtt_transport("pump"));
  EXPECT_EQ(deliveries[0].state, DeliveryState::queued);
}

TEST_F(PersistentSessionTest, TheAwaySessionResumesAndIsMarkedDeliveredAsItAnswers) {
  away("pump", "plant/#", QoS::exactly_once);
  Client& publisher = connect("publisher", 0);
  for (uint16_t i = 1; i <= 3; ++i) {
    publisher.send(publish("plant/p", i == 2 ? QoS::exactly_once : QoS::at_least_once, i,
                           "m" + std::to_string(i)));
  }
  settle();
  Client& pump = connect("pump", kHour, false, true);
  const std::vector<Publish> got = take(pump);
  EXPECT_EQ(payloads(got), (std::vector<std::string>{"m1", "m2", "m3"}));
  EXPECT_EQ(got[1].qos, QoS::exactly_once);
  size_t delivered = 0;
  store->for_each_message([&](const MessageRecord& m) {
    for (const Delivery& d : deliveries_of(m.id)) delivered += d.state == DeliveryState::delivered;
    return true;
  });
  EXPECT_EQ(delivered, 3u);
  pump.send(Disconnect{});
  settle();
  Client& again = connect("pump", kHour, false, true);
  EXPECT_TRUE(take(again).empty()) << "what was answered is not sent again";
}

TEST_F(PersistentSessionTest, AnswersKeepTheOrderOfThePublishesAcrossTheStore) {
  away("pump", "kept/#", QoS::at_least_once);
  Client& publisher = connect("publisher", 0);
  publisher.send(publish("kept/a", QoS::at_least_once, 1, "x"));
  publisher.send(publish("nobody/b", QoS::at_least_once, 2, "y"));
  EXPECT_TRUE(publisher.read().empty()) << "the second answer waits behind the first";
  settle();
  const auto pubacks = publisher.read_all<Puback>();
  ASSERT_EQ(pubacks.size(), 2u);
  EXPECT_EQ(pubacks[0].packet_id, 1u);
  EXPECT_EQ(pubacks[0].reason, ReasonCode::success);
  EXPECT_EQ(pubacks[1].packet_id, 2u);
  EXPECT_EQ(pubacks[1].reason, ReasonCode::no_matching_subscribers);
}

TEST_F(PersistentSessionTest, SessionsSubscriptionsAndQueuesOutliveARestart) {
  away("valve", "alarm/+", QoS::at_least_once);
  connect("publisher", 0).send(publish("alarm/boiler", QoS::at_least_once, 1, "hot"));
  settle();
  EXPECT_EQ(reopen(), 1u);
  Client& publisher = connect("publisher", 0);
  publisher.send(publish("alarm/tank", QoS::at_least_once, 1, "low"));
  settle();
  EXPECT_EQ(publisher.read_all<Puback>().at(0).reason, ReasonCode::success)
      << "the restored subscription still takes messages";
  Client& valve = connect("valve", kHour, false, true);
  EXPECT_EQ(payloads(take(valve)), (std::vector<std::string>{"hot", "low"}));
}

TEST_F(PersistentSessionTest, PriorityOrdersTheStoredQueue) {
  away("pager", "page", QoS::at_least_once);
  Client& publisher = connect("publisher", 0);
  const int priorities[] = {0, -3, 9, 0};
  for (uint16_t i = 0; i < 4; ++i) {
    Publish p = publish("page", QoS::at_least_once, i + 1, "#" + std::to_string(i));
    p.properties.user_properties.emplace_back("priority", std::to_string(priorities[i]));
    publisher.send(p);
  }
  settle();
  Client& pager = connect("pager", kHour, false, true);
  EXPECT_EQ(payloads(take(pager)), (std::vector<std::string>{"#2", "#0", "#3", "#1"}));
}

TEST_F(PersistentSessionTest, MessageExpiryEndsCopiesStillInTheStore) {
  away("display", "news", QoS::at_least_once);
  Client& publisher = connect("publisher", 0);
  Publish brief = publish("news", QoS::at_least_once, 1, "brief");
  brief.properties.message_expiry_interval = 10;
  publisher.send(brief);
  Publish lasting = publish("news", QoS::at_least_once, 2, "lasting");
  lasting.properties.message_expiry_interval = kHour;
  publisher.send(lasting);
  settle();
  clock.advance(std::chrono::seconds(30));
  Client& display = connect("display", kHour, false, true);
  const std::vector<Publish> got = take(display);
  ASSERT_EQ(payloads(got), std::vector<std::string>{"lasting"});
  EXPECT_EQ(got[0].properties.message_expiry_interval, kHour - 30) << "it counts down";
}

TEST_F(PersistentSessionTest, CleanStartEndsTheStoredSessionAndItsQueue) {
  away("door", "door", QoS::at_least_once);
  connect("publisher", 0).send(publish("door", QoS::at_least_once, 1, "opened"));
  settle();
  Client& door = connect("door", kHour, true, false);
  EXPECT_TRUE(take(door).empty());
  size_t discarded = 0;
  store->for_each_message([&](const MessageRecord& m) {
    for (const Delivery& d : deliveries_of(m.id)) discarded += d.state == DeliveryState::discarded;
    return true;
  });
  EXPECT_EQ(discarded, 1u);
}

TEST_F(PersistentSessionTest, AnExpiredSessionIsEndedWithItsQueue) {
  Client& meter = connect("meter", 60);
  subscribe(meter, "meter");
  meter.send(Disconnect{});
  settle();
  connect("publisher", 0).send(publish("meter", QoS::at_least_once, 1, "12.5"));
  settle();
  clock.advance(std::chrono::seconds(59));
  EXPECT_EQ(worker->end_expired_sessions(), 0u);
  clock.advance(std::chrono::seconds(1));
  EXPECT_EQ(worker->end_expired_sessions(), 1u);
  EXPECT_EQ(reopen(), 0u) << "its record is gone too";
}

TEST_F(PersistentSessionTest, AQoS2PublishSentAgainAfterARestartIsOneMessage) {
  away("siren", "fire", QoS::exactly_once);
  Client& detector = connect("detector");
  detector.send(publish("fire", QoS::exactly_once, 7, "smoke"));
  settle();
  EXPECT_EQ(detector.read_all<Pubrec>().at(0).reason, ReasonCode::success);
  reopen();  // before the PUBREL
  Client& again = connect("detector", kHour, false, true);
  Publish resent = publish("fire", QoS::exactly_once, 7, "smoke");
  resent.dup = true;
  again.send(resent);
  settle();
  EXPECT_EQ(again.read_all<Pubrec>().at(0).reason, ReasonCode::success);
  again.send(Pubrel{.packet_id = 7});
  settle();
  EXPECT_EQ(again.read_all<Pubcomp>().at(0).reason, ReasonCode::success);
  EXPECT_TRUE(store->mqtt_inbound("detector").empty()) << "the mark went before PUBCOMP";
  Client& siren = connect("siren", kHour, false, true);
  EXPECT_EQ(payloads(take(siren)), std::vector<std::string>{"smoke"});
}

TEST_F(PersistentSessionTest, AQoS2CopyIsOneExchangeAcrossARestart) {
  away("siren", "fire", QoS::exactly_once);
  connect("detector", 0).send(publish("fire", QoS::exactly_once, 1, "smoke"));
  settle();
  Client& siren = connect("siren", kHour, false, true);
  std::vector<Publish> first;
  for (Packet& packet : siren.read()) {
    if (auto* p = std::get_if<Publish>(&packet)) first.push_back(*p);
  }
  for (Packet& packet : early[&siren]) {
    if (auto* p = std::get_if<Publish>(&packet)) first.push_back(*p);
  }
  early.erase(&siren);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_FALSE(first[0].dup);
  siren.send(Pubrec{.packet_id = first[0].packet_id});  // then the server dies: no PUBREL seen
  settle();
  reopen();
  Client& again = connect("siren", kHour, false, true);
  const std::vector<Publish> resent = take(again);
  ASSERT_EQ(resent.size(), 1u);
  EXPECT_TRUE(resent[0].dup) << "the same exchange, sent again";
  EXPECT_EQ(resent[0].packet_id, first[0].packet_id);
  again.send(Disconnect{});
  settle();
  Client& last = connect("siren", kHour, false, true);
  EXPECT_TRUE(take(last).empty()) << "PUBCOMP ended it";
}

TEST_F(PersistentSessionTest, RetainedMessagesGoToNewSubscriptionsAsRetainHandlingSays) {
  Client& publisher = connect("publisher", 0);
  publisher.send(publish("state/door", QoS::at_least_once, 1, "open", true));
  publisher.send(publish("state/light", QoS::at_most_once, 0, "on", true));
  settle();
  EXPECT_EQ(publisher.read_all<Puback>().at(0).reason, ReasonCode::success)
      << "retained, with nobody subscribed, is kept: a success";
  Client& reader = connect("reader", 0);
  subscribe(reader, "state/#", QoS::at_least_once);
  std::vector<Publish> got = take(reader);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].topic, "state/door");
  EXPECT_TRUE(got[0].retain);
  EXPECT_EQ(got[1].qos, QoS::at_most_once) << "the lower of the two QoS";
  subscribe(reader, "state/#", QoS::at_least_once, RetainHandling::send_if_new_subscription);
  EXPECT_TRUE(take(reader).empty()) << "not for a subscription it had";
  Client& other = connect("other", 0);
  subscribe(other, "state/door", QoS::at_least_once, RetainHandling::do_not_send);
  EXPECT_TRUE(take(other).empty());
  subscribe(other, "$share/g/state/door", QoS::at_least_once);
  EXPECT_TRUE(take(other).empty()) << "never for a shared subscription";

  publisher.send(publish("state/door", QoS::at_least_once, 2, "", true));  // clears it
  settle();
  reopen();
  Client& late = connect("late", 0);
  subscribe(late, "state/#", QoS::at_least_once);
  EXPECT_EQ(payloads(take(late)), std::vector<std::string>{"on"}) << "kept across a restart";
}

}  // namespace
}  // namespace herald::mqtt
