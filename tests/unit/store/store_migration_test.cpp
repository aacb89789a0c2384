// A store of layout 1, as herald wrote it before the due, finished and quarantine families
// existed, written here with raw RocksDB calls; opened by the store of today. Layout 2:
// store_migration_layout2_test.cpp.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>

#include "store/record_codec.h"
#include "store/store.h"
#include "store/store_fixtures.h"
#include "support/store_pages.h"
#include "support/stored_text.h"
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

const uint8_t kNormal = DuePosition::band_of(0);

std::string row(const std::string& id, uint64_t n, int digits) {
  char text[32];
  std::snprintf(text, sizeof text, "%0*llu", digits, static_cast<unsigned long long>(n));
  return id + "/" + text;
}

class StoreMigrationTest : public ::testing::Test {
 protected:
  StoreMigrationTest() {
    spdlog::set_level(spdlog::level::off);
    write_layout_one_store();
  }
  ~StoreMigrationTest() override { spdlog::set_level(spdlog::level::info); }

  fs::path dir() const { return temp_.path() / "store"; }

  // A: A/0 queued (due T0+1s), A/1 held, A/2 delivered. B: delivered; its ledger's last
  // event at T0+5h. C: nothing pending, no ledger, received T0-1h. D: D/0 deferred on smtp.
  // E: a pending delivery that is not JSON.
  void write_layout_one_store() {
    RawRocksDb raw(dir(), {"default", "messages", "content", "deliveries", "ledger", "pending"});
    uint64_t sequence = 1;
    const auto add = [&](const MessageRecord& m, const std::vector<Delivery>& deliveries,
                         const std::vector<LedgerEvent>& events) {
      raw.put("messages", m.id, encode_message_record(m));
      raw.put("content", m.id, "content of " + m.id);
      for (const Delivery& d : deliveries) {
        raw.put("deliveries", row(m.id, d.index, 10), encode_delivery(d));
        if (!is_terminal(d.state)) raw.put("pending", row(m.id, d.index, 10), "");
      }
      for (const LedgerEvent& e : events) {
        raw.put("ledger", row(m.id, sequence++, 20), encode_ledger_event(e));
      }
    };
    const MessageRecord a = stored_message("A");
    Delivery a1 = stored_delivery(a, 1, kStoreT0);
    a1.held = true;
    Delivery a2 = stored_delivery(a, 2, kStoreT0);
    a2.state = DeliveryState::delivered;
    add(a, {stored_delivery(a, 0, kStoreT0 + 1s), a1, a2}, {event_at(kStoreT0, "received")});
    const MessageRecord b = stored_message("B");
    Delivery b0 = stored_delivery(b, 0, kStoreT0);
    b0.state = DeliveryState::delivered;
    add(b, {b0}, {event_at(kStoreT0 + 1h, "delivered"), event_at(kStoreT0 + 5h, "read")});
    const MessageRecord c = stored_message("C", kStoreT0 - 1h);
    Delivery c0 = stored_delivery(c, 0, kStoreT0);
    c0.state = DeliveryState::bounced;
    add(c, {c0}, {});
    const MessageRecord d = stored_message("D");
    Delivery d0 = stored_delivery(d, 0, kStoreT0 + 2s, "smtp");
    d0.state = DeliveryState::deferred;
    add(d, {d0}, {});
    const MessageRecord e = stored_message("E");
    add(e, {}, {});
    raw.put("deliveries", "E/0000000000", "garbage");
    raw.put("pending", "E/0000000000", "");
  }

  TempDir temp_;
};

TEST_F(StoreMigrationTest, ReadWriteOpenBuildsTheIndexesAndMarksTheLayout) {
  {
    auto store = open_rocksdb_store(dir(), StoreMode::read_write);
    EXPECT_EQ(keys_of(store->due_deliveries(DuePosition::start_of("local", kNormal),
                                            TimePoint::max(), 10)),
              (std::vector<std::string>{"A/0"}));
    EXPECT_EQ(keys_of(store->due_deliveries(DuePosition::start_of("smtp", kNormal),
                                            TimePoint::max(), 10)),
              (std::vector<std::string>{"D/0"}));
    EXPECT_EQ(store->unfinished_deliveries(std::nullopt, 10).size(), 3u) << "A/0, A/1, D/0";
    ASSERT_EQ(store->damaged_records(10).size(), 1u) << "E/0, met by the pending walk";
    EXPECT_EQ(store->damaged_records(10)[0].key, "E/0000000000");
    // Finished: C at its arrival, B at its last event; A and D are not finished.
    EXPECT_EQ(store->remove_finished(kStoreT0, 10), 1u);
    EXPECT_FALSE(store->message("C").has_value());
    EXPECT_EQ(store->remove_finished(kStoreT0 + 5h, 10), 0u);
    EXPECT_EQ(store->remove_finished(kStoreT0 + 5h + 1ms, 10), 1u);
    EXPECT_FALSE(store->message("B").has_value());
    EXPECT_TRUE(store->message("A").has_value());
    EXPECT_TRUE(store->message("D").has_value());
    EXPECT_EQ(test_support::stored_text(*store, "A"), "content of A");
  }
  RawRocksDb raw(dir());
  EXPECT_TRUE(raw.has_family("due"));
  EXPECT_TRUE(raw.has_family("finished"));
  EXPECT_TRUE(raw.has_family("quarantine"));
  // E has no delivery record left, so nothing finished it: it stays until an operator acts.
  EXPECT_EQ(raw.keys("finished").size(), 0u);
}

TEST_F(StoreMigrationTest, AMigratedStoreIsNotMigratedAgain) {
  open_rocksdb_store(dir(), StoreMode::read_write).reset();
  // Index keys removed behind the store's back stay removed: the marker says it is done.
  {
    RawRocksDb raw(dir());
    for (const auto& key : raw.keys("due")) raw.erase("due", key);
  }
  auto store = open_rocksdb_store(dir(), StoreMode::read_write);
  EXPECT_TRUE(
      store->due_deliveries(DuePosition::start_of("local", kNormal), TimePoint::max(), 10).empty());
}

TEST_F(StoreMigrationTest, ReadOnlyOpenReadsAStoreNotYetMigrated) {
  auto reader = open_rocksdb_store(dir(), StoreMode::read_only);
  EXPECT_EQ(test_support::all_unfinished(*reader).size(), 3u) << "E/0 skipped";
  EXPECT_EQ(reader->message("A")->id, "A");
  EXPECT_TRUE(reader->due_deliveries(DuePosition::start_of("local", kNormal), TimePoint::max(), 10)
                  .empty());
  EXPECT_TRUE(reader->damaged_records(10).empty());
  EXPECT_THROW(reader->remove_finished(TimePoint::max() - 1h, 10), StoreError);
  reader.reset();
  EXPECT_FALSE(RawRocksDb(dir()).has_family("due")) << "a reader changes nothing";
}

TEST_F(StoreMigrationTest, ReadOnlyOpenOfAMigratedStoreReadsTheIndex) {
  auto daemon = open_rocksdb_store(dir(), StoreMode::read_write);
  auto reader = open_rocksdb_store(dir(), StoreMode::read_only);
  EXPECT_EQ(keys_of(reader->due_deliveries(DuePosition::start_of("local", kNormal),
                                           TimePoint::max(), 10)),
            (std::vector<std::string>{"A/0"}));
}

TEST_F(StoreMigrationTest, AStoreOfAnUnknownLayoutIsRefused) {
  open_rocksdb_store(dir(), StoreMode::read_write).reset();
  RawRocksDb(dir()).put("default", "layout", "4");
  EXPECT_THROW(open_rocksdb_store(dir(), StoreMode::read_write), StoreError);
}

}  // namespace
}  // namespace herald
