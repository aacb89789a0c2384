// The RocksDB store's MQTT face: sessions, inbound QoS 2 marks and retained messages as
// apply writes them, atomically with messages, durably, read back in order, over stores
// that predate them, and quarantined when damaged.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <stdexcept>

#include "store/store.h"
#include "store/store_fixtures.h"
#include "support/temp_dir.h"

namespace herald {
namespace {

namespace fs = std::filesystem;

using test_support::kStoreT0;
using test_support::RawRocksDb;
using test_support::stored_message;
using test_support::TempDir;

MqttSessionRecord session_of(std::string client_id) {
  MqttSessionRecord s;
  s.client_id = std::move(client_id);
  s.expiry_interval = 3600;
  s.disconnected_at = kStoreT0;
  s.subscriptions = {{"sensors/#", 1, 9}, {"cmd/+", 2, std::nullopt}};
  return s;
}

RetainedMessage retained_of(std::string topic, std::string payload = "21.5") {
  RetainedMessage m;
  m.topic = std::move(topic);
  m.qos = 1;
  m.properties = std::string("\x00\x01\xff", 3);
  m.payload = std::move(payload);
  m.received = kStoreT0;
  m.message_id = "01HZY3NDEKTSV4RRFFQ69G5FAV";
  return m;
}

std::vector<MqttSessionRecord> sessions_in(Store& store) {
  std::vector<MqttSessionRecord> out;
  store.for_each_mqtt_session([&](const MqttSessionRecord& s) {
    out.push_back(s);
    return true;
  });
  return out;
}

std::vector<std::string> client_ids_in(Store& store) {
  std::vector<std::string> out;
  for (const auto& s : sessions_in(store)) out.push_back(s.client_id);
  return out;
}

std::vector<uint16_t> packet_ids_of(const std::vector<MqttInboundMark>& marks) {
  std::vector<uint16_t> out;
  for (const auto& mark : marks) out.push_back(mark.packet_id);
  return out;
}

std::vector<std::string> topics_of(const std::vector<RetainedMessage>& retained) {
  std::vector<std::string> out;
  for (const auto& m : retained) out.push_back(m.topic);
  return out;
}

// A message published over MQTT, with no copy for any persistent session.
StoreWrite::NewMessage mqtt_message(std::string id) {
  StoreWrite::NewMessage m;
  m.record = stored_message(std::move(id));
  m.record.mqtt = MqttMessageFields{"sensors/kitchen", 1, true, "", std::nullopt, "thermo-1"};
  m.content = ContentToCommit("", 0, 0, "21.5");
  return m;
}

class StoreMqttTest : public ::testing::Test {
 protected:
  fs::path dir() const { return temp_.path() / "store"; }
  std::unique_ptr<Store> open(StoreMode mode = StoreMode::read_write) {
    return open_rocksdb_store(dir(), mode);
  }

  TempDir temp_;
};

TEST_F(StoreMqttTest, ApplyWritesEachPartAndReadsThemInOrder) {
  auto store = open();
  StoreWrite write;
  write.sessions_put = {session_of("zeta"), session_of("alpha")};
  // 255 and 256 differ in the high byte: big-endian keys keep numeric order.
  write.inbound_put = {{"alpha", 256, "m256"}, {"alpha", 2, "m2"}, {"alpha", 255, ""}};
  write.retained_put = {retained_of("b"), retained_of("a")};
  store->apply(write);

  EXPECT_EQ(client_ids_in(*store), (std::vector<std::string>{"alpha", "zeta"}));
  EXPECT_EQ(sessions_in(*store)[0], session_of("alpha"));
  const auto marks = store->mqtt_inbound("alpha");
  EXPECT_EQ(packet_ids_of(marks), (std::vector<uint16_t>{2, 255, 256}));
  EXPECT_EQ(marks[2], (MqttInboundMark{"alpha", 256, "m256"}));
  EXPECT_TRUE(store->mqtt_inbound("zeta").empty());
  const auto retained = store->retained("", "", 10);
  ASSERT_EQ(topics_of(retained), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(retained[0], retained_of("a"));
}

TEST_F(StoreMqttTest, PartsReplaceAndEraseWhatIsStored) {
  auto store = open();
  StoreWrite first;
  first.sessions_put = {session_of("c1"), session_of("c2")};
  first.inbound_put = {{"c1", 1, "m1"}, {"c1", 2, "m2"}};
  first.retained_put = {retained_of("t1"), retained_of("t2")};
  store->apply(first);

  StoreWrite second;
  MqttSessionRecord connected = session_of("c1");
  connected.disconnected_at.reset();
  connected.subscriptions.pop_back();
  second.sessions_put = {connected};
  second.inbound_put = {{"c1", 2, "m2-again"}};
  second.inbound_erased = {{"c1", 1}};
  second.retained_put = {retained_of("t1", "22.0")};
  second.retained_erased = {"t2"};
  store->apply(second);

  EXPECT_EQ(sessions_in(*store), (std::vector<MqttSessionRecord>{connected, session_of("c2")}));
  EXPECT_EQ(store->mqtt_inbound("c1"), (std::vector<MqttInboundMark>{{"c1", 2, "m2-again"}}));
  EXPECT_EQ(store->retained("", "", 10), (std::vector<RetainedMessage>{retained_of("t1", "22.0")}));
}

TEST_F(StoreMqttTest, ErasingASessionRemovesOnlyItsInboundMarks) {
  auto store = open();
  StoreWrite write;
  // Client ids that "a" is a prefix of, or that sort right after its marks.
  for (const std::string& client :
       std::vector<std::string>{"a", "ab", std::string("a\x01", 2), "A", "b"}) {
    write.sessions_put.push_back(session_of(client));
    write.inbound_put.push_back({client, 1, ""});
    write.inbound_put.push_back({client, 65535, ""});
  }
  store->apply(write);

  StoreWrite erase;
  erase.sessions_erased = {"a"};
  store->apply(erase);

  EXPECT_TRUE(store->mqtt_inbound("a").empty());
  for (const std::string& client :
       std::vector<std::string>{"ab", std::string("a\x01", 2), "A", "b"}) {
    EXPECT_EQ(packet_ids_of(store->mqtt_inbound(client)), (std::vector<uint16_t>{1, 65535}))
        << client;
  }
  EXPECT_EQ(client_ids_in(*store),
            (std::vector<std::string>{"A", std::string("a\x01", 2), "ab", "b"}));
}

TEST_F(StoreMqttTest, LaterPartsOfOneWriteWin) {
  auto store = open();
  StoreWrite write;
  write.sessions_put = {session_of("c")};
  write.sessions_erased = {"c"};           // after the put: erased
  write.inbound_put = {{"c", 7, "kept"}};  // after the erase: kept
  write.retained_put = {retained_of("t")};
  write.retained_erased = {"t"};
  store->apply(write);

  EXPECT_TRUE(sessions_in(*store).empty());
  EXPECT_EQ(packet_ids_of(store->mqtt_inbound("c")), (std::vector<uint16_t>{7}));
  EXPECT_TRUE(store->retained("", "", 10).empty());
}

TEST_F(StoreMqttTest, MqttPartsCommitWithTheMessageOrNotAtAll) {
  auto store = open();
  StoreWrite failing;
  failing.messages.push_back(mqtt_message("01MSGA"));
  failing.sessions_put = {session_of("c")};
  failing.inbound_put = {{"c", 1, "01MSGA"}};
  failing.retained_put = {retained_of("sensors/kitchen")};
  // An update of a delivery the store does not have fails the whole write.
  failing.updates.push_back(
      {test_support::stored_delivery(stored_message("01NONE"), 0, kStoreT0), {}});
  EXPECT_THROW(store->apply(failing), StoreError);
  EXPECT_FALSE(store->message("01MSGA").has_value());
  EXPECT_TRUE(sessions_in(*store).empty());
  EXPECT_TRUE(store->mqtt_inbound("c").empty());
  EXPECT_TRUE(store->retained("", "", 10).empty());

  StoreWrite empty_payload;
  empty_payload.messages.push_back(mqtt_message("01MSGB"));
  empty_payload.retained_put = {retained_of("sensors/kitchen", "")};
  EXPECT_THROW(store->apply(empty_payload), std::invalid_argument);
  EXPECT_FALSE(store->message("01MSGB").has_value());

  failing.updates.clear();
  store->apply(failing);
  EXPECT_EQ(store->message("01MSGA")->mqtt, failing.messages[0].record.mqtt);
  EXPECT_EQ(client_ids_in(*store), (std::vector<std::string>{"c"}));
  EXPECT_EQ(store->mqtt_inbound("c").size(), 1u);
  EXPECT_EQ(topics_of(store->retained("", "", 10)), (std::vector<std::string>{"sensors/kitchen"}));
}

// A retained message that no persistent session gets a copy of is committed with no
// delivery: finished at once, and removed by retention like any finished message, while its
// retained form stays in mqtt_retained.
TEST_F(StoreMqttTest, AMessageWithNoDeliveryIsFinishedAndItsRetainedFormOutlivesIt) {
  auto store = open();
  StoreWrite write;
  write.messages.push_back(mqtt_message("01MSGA"));
  write.retained_put = {retained_of("sensors/kitchen")};
  store->apply(write);
  MessageRecord direct = stored_message("01MSGB");
  direct.mqtt = MqttMessageFields{"sensors/hall", 0, true, "", std::nullopt, "thermo-2"};
  store->commit_message(direct, ContentToCommit("", 0, 0, "19.0"), {}, {});

  EXPECT_EQ(store->message("01MSGB")->mqtt, direct.mqtt);
  EXPECT_TRUE(store->deliveries("01MSGA").empty());
  EXPECT_TRUE(store->unfinished_deliveries(std::nullopt, 10).empty());

  EXPECT_EQ(store->remove_finished(std::chrono::system_clock::now() + std::chrono::hours(1), 10),
            2u);
  EXPECT_FALSE(store->message("01MSGA").has_value());
  EXPECT_EQ(store->retained("", "", 10),
            (std::vector<RetainedMessage>{retained_of("sensors/kitchen")}));
}

TEST_F(StoreMqttTest, RetainedIsReadByPrefixAfterATopicASliceAtATime) {
  auto store = open();
  StoreWrite write;
  for (const char* topic : {"a", "a/b", "a/b/c", "a/c", "a/d", "a0", "b/x"}) {
    write.retained_put.push_back(retained_of(topic));
  }
  store->apply(write);

  using Topics = std::vector<std::string>;
  EXPECT_EQ(topics_of(store->retained("a/", "", 2)), (Topics{"a/b", "a/b/c"}));
  EXPECT_EQ(topics_of(store->retained("a/", "a/b/c", 2)), (Topics{"a/c", "a/d"}));
  EXPECT_TRUE(store->retained("a/", "a/d", 2).empty());
  EXPECT_EQ(topics_of(store->retained("a/", "a/bb", 10)), (Topics{"a/c", "a/d"}));
  EXPECT_EQ(topics_of(store->retained("a/", "0", 10)), (Topics{"a/b", "a/b/c", "a/c", "a/d"}));
  EXPECT_TRUE(store->retained("a/", "b", 10).empty());
  EXPECT_EQ(topics_of(store->retained("a", "", 10)),
            (Topics{"a", "a/b", "a/b/c", "a/c", "a/d", "a0"}));
  EXPECT_EQ(topics_of(store->retained("b/", "", 10)), (Topics{"b/x"}));
  EXPECT_TRUE(store->retained("c", "", 10).empty());
  EXPECT_TRUE(store->retained("", "", 0).empty());

  // Paging to the end sees every topic once (and ends: a slice that gave `after` again
  // would loop; three slices of three are more than enough).
  Topics paged;
  std::string after;
  for (int slices = 0; slices < 4; ++slices) {
    const auto slice = store->retained("", after, 3);
    if (slice.empty()) break;
    for (const auto& m : slice) paged.push_back(m.topic);
    after = slice.back().topic;
  }
  EXPECT_EQ(paged, (Topics{"a", "a/b", "a/b/c", "a/c", "a/d", "a0", "b/x"}));
}

TEST_F(StoreMqttTest, EverythingSurvivesReopening) {
  std::string payload;
  for (int i = 0; i < 300'000; ++i) payload.push_back(static_cast<char>(i % 256));
  {
    auto store = open();
    StoreWrite write;
    write.messages.push_back(mqtt_message("01MSGA"));
    write.sessions_put = {session_of("c1")};
    write.inbound_put = {{"c1", 42, "01MSGA"}};
    write.retained_put = {retained_of("big", payload)};
    store->apply(write);
  }
  for (const StoreMode mode : {StoreMode::read_write, StoreMode::read_only}) {
    auto store = open(mode);
    EXPECT_EQ(sessions_in(*store), (std::vector<MqttSessionRecord>{session_of("c1")}));
    EXPECT_EQ(store->mqtt_inbound("c1"), (std::vector<MqttInboundMark>{{"c1", 42, "01MSGA"}}));
    EXPECT_EQ(store->retained("", "", 10),
              (std::vector<RetainedMessage>{retained_of("big", payload)}));
    EXPECT_TRUE(store->message("01MSGA")->mqtt.has_value());
  }
}

TEST_F(StoreMqttTest, AReaderBesideTheDaemonSeesWhatItCommitted) {
  auto daemon = open();
  StoreWrite write;
  write.sessions_put = {session_of("c1")};
  write.retained_put = {retained_of("t")};
  daemon->apply(write);
  auto reader = open(StoreMode::read_only);
  EXPECT_EQ(client_ids_in(*reader), (std::vector<std::string>{"c1"}));
  EXPECT_EQ(topics_of(reader->retained("", "", 10)), (std::vector<std::string>{"t"}));
}

// A store that a herald before the MQTT face wrote: layout 3, without the MQTT families.
TEST_F(StoreMqttTest, AStoreWithoutTheMqttFamiliesOpensBothWays) {
  open()->commit_message(stored_message("01MSGA"), "Subject: hi\r\n\r\nbody\r\n", {}, {});
  {
    rocksdb::DBOptions options;
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(options, dir().string(), &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& name : names) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir().string(), descriptors, &handles, &db).ok());
    for (auto* handle : handles) {
      if (handle->GetName().starts_with("mqtt_")) {
        ASSERT_TRUE(db->DropColumnFamily(handle).ok());
      }
      ASSERT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
    }
    delete db;
  }
  EXPECT_FALSE(RawRocksDb(dir()).has_family("mqtt_sessions"));

  {
    auto reader = open(StoreMode::read_only);
    EXPECT_TRUE(reader->message("01MSGA").has_value());
    EXPECT_TRUE(sessions_in(*reader).empty());
    EXPECT_TRUE(reader->mqtt_inbound("c1").empty());
    EXPECT_TRUE(reader->retained("", "", 10).empty());
  }
  {
    auto store = open();
    StoreWrite write;
    write.sessions_put = {session_of("c1")};
    write.inbound_put = {{"c1", 1, ""}};
    write.retained_put = {retained_of("t")};
    store->apply(write);
    EXPECT_TRUE(store->message("01MSGA").has_value());
  }
  auto reader = open(StoreMode::read_only);
  EXPECT_EQ(client_ids_in(*reader), (std::vector<std::string>{"c1"}));
  EXPECT_EQ(reader->mqtt_inbound("c1").size(), 1u);
  EXPECT_EQ(topics_of(reader->retained("", "", 10)), (std::vector<std::string>{"t"}));
}

TEST_F(StoreMqttTest, DamagedMqttRecordsAreQuarantinedAndSkipped) {
  {
    auto store = open();
    StoreWrite write;
    write.sessions_put = {session_of("a"), session_of("c")};
    write.inbound_put = {{"a", 1, ""}, {"a", 3, ""}};
    write.retained_put = {retained_of("t1"), retained_of("t3")};
    store->apply(write);
  }
  {
    RawRocksDb raw(dir());
    raw.put("mqtt_sessions", "b", "{not json");
    raw.put("mqtt_inbound", std::string("a\0\0\x02", 4), R"({"client_id":"a"})");
    raw.put("mqtt_retained", "t2", std::string("\0\0\0\x05{}", 6));
  }
  {
    // A reader leaves the damage where it is, for the daemon to move.
    auto reader = open(StoreMode::read_only);
    EXPECT_EQ(client_ids_in(*reader), (std::vector<std::string>{"a", "c"}));
    EXPECT_TRUE(reader->damaged_records(10).empty());
  }
  auto store = open();
  EXPECT_EQ(client_ids_in(*store), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(packet_ids_of(store->mqtt_inbound("a")), (std::vector<uint16_t>{1, 3}));
  EXPECT_EQ(topics_of(store->retained("", "", 10)), (std::vector<std::string>{"t1", "t3"}));

  const auto damaged = store->damaged_records(10);
  ASSERT_EQ(damaged.size(), 3u);
  std::vector<std::string> where;
  for (const auto& d : damaged) where.push_back(d.family + " " + d.key);
  std::sort(where.begin(), where.end());
  EXPECT_EQ(where, (std::vector<std::string>{std::string("mqtt_inbound a\0\0\x02", 17),
                                             "mqtt_retained t2", "mqtt_sessions b"}));
  for (const auto& d : damaged) {
    if (d.family == "mqtt_sessions") {
      EXPECT_EQ(d.bytes, "{not json");
    }
  }
  // Moved, not copied: a second walk finds nothing more to quarantine.
  sessions_in(*store);
  store->mqtt_inbound("a");
  store->retained("", "", 10);
  EXPECT_EQ(store->damaged_records(10).size(), 3u);
}

TEST_F(StoreMqttTest, AVisitThatReturnsFalseStopsTheWalk) {
  auto store = open();
  StoreWrite write;
  write.sessions_put = {session_of("a"), session_of("b"), session_of("c")};
  store->apply(write);
  std::vector<std::string> seen;
  store->for_each_mqtt_session([&](const MqttSessionRecord& s) {
    seen.push_back(s.client_id);
    return seen.size() < 2;
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace herald
