// Damaged records: written behind the store's back into a closed store, then met by the
// store's reads, which move them to the quarantine and carry on.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "store/store.h"
#include "store/store_fixtures.h"
#include "support/store_pages.h"
#include "support/temp_dir.h"

namespace herald {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test_support::event_at;
using test_support::keys_of;
using test_support::kStoreT0;
using test_support::RawRocksDb;
using test_support::stored_delivery;
using test_support::stored_message;
using test_support::TempDir;

// Not JSON, not UTF-8, with a NUL: kept byte for byte all the same.
const std::string kGarbage("\xff\x00garbage{", 10);

class StoreQuarantineTest : public ::testing::Test {
 protected:
  StoreQuarantineTest() { spdlog::set_level(spdlog::level::off); }
  ~StoreQuarantineTest() override { spdlog::set_level(spdlog::level::info); }

  fs::path dir() const { return temp_.path() / "store"; }
  std::unique_ptr<Store> open(StoreMode mode = StoreMode::read_write) {
    return open_rocksdb_store(dir(), mode);
  }

  // Messages A and B, two deliveries each, all due at kStoreT0; the store is closed after.
  void commit_two_messages() {
    auto store = open();
    for (const char* id : {"A", "B"}) {
      const MessageRecord m = stored_message(id);
      store->commit_message(m, "x",
                            {stored_delivery(m, 0, kStoreT0), stored_delivery(m, 1, kStoreT0)},
                            {event_at(kStoreT0, "received")});
    }
  }

  static std::vector<DueDelivery> all_due(Store& store) {
    return test_support::due_in_every_band(store, "local", TimePoint::max());
  }

  TempDir temp_;
};

TEST_F(StoreQuarantineTest, GarbageDeliveryIsMovedAsideAndTheQueueGoesOn) {
  commit_two_messages();
  RawRocksDb(dir()).put("deliveries", "A/0000000000", kGarbage);
  {
    auto store = open();
    EXPECT_EQ(keys_of(all_due(*store)), (std::vector<std::string>{"A/1", "B/0", "B/1"}));
    const auto damaged = store->damaged_records(10);
    ASSERT_EQ(damaged.size(), 1u);
    EXPECT_EQ(damaged[0].family, "deliveries");
    EXPECT_EQ(damaged[0].key, "A/0000000000");
    EXPECT_EQ(damaged[0].bytes, kGarbage);
    EXPECT_NE(damaged[0].reason.find("not JSON"), std::string::npos) << damaged[0].reason;
    EXPECT_LE(std::chrono::system_clock::now() - damaged[0].found_at, 1h);
    // Gone from the pending set and the record family too: nothing else trips over it.
    EXPECT_EQ(store->unfinished_deliveries(std::nullopt, 10).size(), 3u);
    EXPECT_EQ(store->deliveries("A").size(), 1u);
    EXPECT_EQ(keys_of(all_due(*store)).size(), 3u);
    EXPECT_EQ(store->damaged_records(10).size(), 1u) << "quarantined once";
  }
  RawRocksDb raw(dir());
  EXPECT_EQ(raw.keys("due").size(), 3u) << "its due entry is gone";
  EXPECT_EQ(raw.keys("pending"),
            (std::vector<std::string>{"A/0000000001", "B/0000000000", "B/0000000001"}));
}

TEST_F(StoreQuarantineTest, MissingMessageRecordTakesItsDeliveriesOutOfTheQueue) {
  commit_two_messages();
  RawRocksDb(dir()).erase("messages", "A");
  {
    auto store = open();
    const auto due = all_due(*store);
    EXPECT_EQ(keys_of(due), (std::vector<std::string>{"B/0", "B/1"}));
    const auto damaged = store->damaged_records(10);
    ASSERT_EQ(damaged.size(), 1u) << "one entry for the message, not one per delivery";
    EXPECT_EQ(damaged[0].family, "messages");
    EXPECT_EQ(damaged[0].key, "A");
    EXPECT_EQ(damaged[0].reason, "missing");
    EXPECT_EQ(damaged[0].bytes, "");
    ASSERT_EQ(store->unfinished_deliveries(std::nullopt, 10).size(), 2u);
    EXPECT_EQ(store->unfinished_deliveries(std::nullopt, 10)[0].message_id, "B");
  }
  RawRocksDb raw(dir());
  EXPECT_EQ(raw.keys("due").size(), 2u);
  EXPECT_EQ(raw.keys("pending").size(), 2u);
}

TEST_F(StoreQuarantineTest, UndecodableMessageRecordIsKeptByteForByte) {
  commit_two_messages();
  RawRocksDb(dir()).put("messages", "B", kGarbage);
  auto store = open();
  EXPECT_EQ(keys_of(all_due(*store)), (std::vector<std::string>{"A/0", "A/1"}));
  const auto damaged = store->damaged_records(10);
  ASSERT_EQ(damaged.size(), 1u);
  EXPECT_EQ(damaged[0].key, "B");
  EXPECT_EQ(damaged[0].bytes, kGarbage);
  EXPECT_FALSE(store->message("B").has_value()) << "moved, not copied";
  EXPECT_EQ(store->deliveries("B").size(), 2u) << "its deliveries stay for the record";
}

TEST_F(StoreQuarantineTest, PendingWalkQuarantinesAndTheDueReadDropsTheLeftoverEntry) {
  commit_two_messages();
  RawRocksDb(dir()).put("deliveries", "B/0000000001", "{}");
  {
    auto store = open();
    EXPECT_EQ(test_support::all_unfinished(*store).size(), 3u);
    ASSERT_EQ(store->damaged_records(10).size(), 1u);
    EXPECT_NE(store->damaged_records(10)[0].reason.find("missing"), std::string::npos);
    // The pending walk cannot know where its due entry was; reading the index drops it.
    EXPECT_EQ(keys_of(all_due(*store)), (std::vector<std::string>{"A/0", "A/1", "B/0"}));
    EXPECT_EQ(store->damaged_records(10).size(), 1u);
  }
  EXPECT_EQ(RawRocksDb(dir()).keys("due").size(), 3u);
}

TEST_F(StoreQuarantineTest, ReadOnlyStoreSkipsDamageAndLeavesItForTheDaemon) {
  commit_two_messages();
  RawRocksDb(dir()).put("deliveries", "A/0000000000", kGarbage);
  {
    auto reader = open(StoreMode::read_only);
    EXPECT_EQ(test_support::all_unfinished(*reader).size(), 3u);
    EXPECT_EQ(keys_of(all_due(*reader)), (std::vector<std::string>{"A/1", "B/0", "B/1"}));
    EXPECT_TRUE(reader->damaged_records(10).empty());
  }
  auto store = open();
  EXPECT_EQ(test_support::all_unfinished(*store).size(), 3u);
  EXPECT_EQ(store->damaged_records(10).size(), 1u);
}

TEST_F(StoreQuarantineTest, DamagedRecordsComeOldestFirstUpToTheLimit) {
  commit_two_messages();
  RawRocksDb(dir()).put("deliveries", "A/0000000000", kGarbage);
  auto store = open();
  EXPECT_EQ(test_support::all_unfinished(*store).size(), 3u);
  store.reset();
  RawRocksDb(dir()).put("deliveries", "B/0000000001", kGarbage);
  store = open();
  EXPECT_EQ(test_support::all_unfinished(*store).size(), 2u);
  const auto damaged = store->damaged_records(10);
  ASSERT_EQ(damaged.size(), 2u);
  EXPECT_EQ(damaged[0].key, "A/0000000000");
  EXPECT_EQ(damaged[1].key, "B/0000000001");
  EXPECT_LE(damaged[0].found_at, damaged[1].found_at);
  EXPECT_EQ(store->damaged_records(1).size(), 1u);
}

TEST_F(StoreQuarantineTest, AStaleDueEntryIsDroppedNotReturned) {
  commit_two_messages();
  {
    // An entry of A/0 at a time it is not due at, as a bug could leave behind.
    auto keys = RawRocksDb(dir()).keys("due");
    ASSERT_EQ(keys.size(), 4u);
    std::string stale = keys[0];
    ASSERT_NE(stale.find("A/0000000000"), std::string::npos);
    stale[stale.size() - std::string("A/0000000000").size() - 1] ^= 0x01;  // another time
    RawRocksDb(dir()).put("due", stale, "");
  }
  {
    auto store = open();
    EXPECT_EQ(keys_of(all_due(*store)), (std::vector<std::string>{"A/0", "A/1", "B/0", "B/1"}));
    EXPECT_TRUE(store->damaged_records(10).empty()) << "nothing is damaged";
  }
  EXPECT_EQ(RawRocksDb(dir()).keys("due").size(), 4u);
}

TEST_F(StoreQuarantineTest, UpdateOverAnUndecodableDeliveryReplacesIt) {
  commit_two_messages();
  RawRocksDb(dir()).put("deliveries", "A/0000000000", kGarbage);
  {
    auto store = open();
    Delivery d = stored_delivery(stored_message("A"), 0, kStoreT0 + 1h);
    d.state = DeliveryState::deferred;
    store->update_delivery(d, event_at(kStoreT0, "deferred"));
    EXPECT_EQ(store->deliveries("A")[0].state, DeliveryState::deferred);
    // Its old entry could not be known; reading the index drops it.
    EXPECT_EQ(keys_of(all_due(*store)), (std::vector<std::string>{"A/1", "B/0", "B/1", "A/0"}));
    EXPECT_TRUE(store->damaged_records(10).empty());
  }
  EXPECT_EQ(RawRocksDb(dir()).keys("due").size(), 4u);
}

}  // namespace
}  // namespace herald
