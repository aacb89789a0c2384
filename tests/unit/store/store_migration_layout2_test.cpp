// A store of layout 2, as herald wrote it before the due index had priority bands and
// deliveries carried their message's priority, written here with raw RocksDB calls; opened
// by the store of today.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>

#include "store/record_codec.h"
#include "store/rocksdb_layout.h"
#include "store/store.h"
#include "store/store_fixtures.h"
#include "support/store_pages.h"
#include "support/temp_dir.h"

namespace herald {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test_support::due_in_every_band;
using test_support::event_at;
using test_support::keys_of;
using test_support::kStoreT0;
using test_support::RawRocksDb;
using test_support::stored_delivery;
using test_support::stored_message;
using test_support::TempDir;

// A delivery as layout 2 stored it: without the priority field.
std::string layout_two_delivery(const Delivery& d) {
  std::string text = encode_delivery(d);
  const std::string field = ",\"priority\":" + std::to_string(d.priority);
  text.erase(text.find(field), field.size());
  return text;
}

// TRANSPORT 0x00 TIME ID/INDEX: a due key of layout 2.
std::string layout_two_due_key(const Delivery& d) {
  std::string key = d.transport;
  key.push_back('\0');
  return key + store_layout::encode_time(d.next_attempt) +
         store_layout::delivery_key(d.message_id, d.index);
}

class StoreMigrationLayoutTwoTest : public ::testing::Test {
 protected:
  StoreMigrationLayoutTwoTest() {
    spdlog::set_level(spdlog::level::off);
    write_layout_two_store();
  }
  ~StoreMigrationLayoutTwoTest() override { spdlog::set_level(spdlog::level::info); }

  fs::path dir() const { return temp_.path() / "store"; }

  // A (priority 5): A/0 due T0+2s, A/1 held. B (priority 0): B/0 due T0. C (priority -3):
  // C/0 deferred on smtp, due T0+1s. D: delivered, in the finished index at T0+1h.
  void write_layout_two_store() {
    RawRocksDb raw(dir(), {"default", "messages", "content", "deliveries", "ledger", "pending",
                           "due", "finished", "quarantine"});
    const auto add = [&](const MessageRecord& m, const std::vector<Delivery>& deliveries) {
      raw.put("messages", m.id, encode_message_record(m));
      raw.put("content", m.id, "content of " + m.id);
      for (const Delivery& d : deliveries) {
        const std::string row = store_layout::delivery_key(d.message_id, d.index);
        raw.put("deliveries", row, layout_two_delivery(d));
        if (is_terminal(d.state)) continue;
        raw.put("pending", row, "");
        if (!d.held) raw.put("due", layout_two_due_key(d), "");
      }
      raw.put("ledger", m.id + "/00000000000000000001",
              encode_ledger_event(event_at(kStoreT0, "received")));
    };
    MessageRecord a = stored_message("A");
    a.qos.priority = 5;
    Delivery a1 = stored_delivery(a, 1, kStoreT0);
    a1.held = true;
    add(a, {stored_delivery(a, 0, kStoreT0 + 2s), a1});
    add(stored_message("B"), {stored_delivery(stored_message("B"), 0, kStoreT0)});
    MessageRecord c = stored_message("C");
    c.qos.priority = -3;
    Delivery c0 = stored_delivery(c, 0, kStoreT0 + 1s, "smtp");
    c0.state = DeliveryState::deferred;
    add(c, {c0});
    const MessageRecord d = stored_message("D");
    Delivery d0 = stored_delivery(d, 0, kStoreT0);
    d0.state = DeliveryState::delivered;
    add(d, {d0});
    raw.put("finished", store_layout::finished_key(kStoreT0 + 1h, "D"), "");
    raw.put("default", "layout", "2");
  }

  TempDir temp_;
};

TEST_F(StoreMigrationLayoutTwoTest, ReadWriteOpenFilesTheDueIndexInBandsAndMarksTheLayout) {
  {
    auto store = open_rocksdb_store(dir(), StoreMode::read_write);
    EXPECT_EQ(keys_of(due_in_every_band(*store, "local", TimePoint::max())),
              (std::vector<std::string>{"A/0", "B/0"}))
        << "A is due later and comes first: priority 5";
    EXPECT_EQ(
        keys_of(store->due_deliveries(DuePosition::start_of("local", 4), TimePoint::max(), 10)),
        (std::vector<std::string>{"A/0"}));
    EXPECT_EQ(
        keys_of(store->due_deliveries(DuePosition::start_of("smtp", 12), TimePoint::max(), 10)),
        (std::vector<std::string>{"C/0"}));
    // Every pending delivery took its message's priority, held ones too.
    EXPECT_EQ(store->deliveries("A")[0].priority, 5);
    EXPECT_EQ(store->deliveries("A")[1].priority, 5);
    EXPECT_EQ(store->deliveries("C")[0].priority, -3);
    EXPECT_EQ(store->deliveries("B")[0].priority, 0);
    EXPECT_TRUE(store->damaged_records(10).empty()) << "no old key was taken for damage";
    // The finished index of layout 2 is kept as it was.
    EXPECT_EQ(store->remove_finished(kStoreT0 + 1h + 1ms, 10), 1u);
    EXPECT_FALSE(store->message("D").has_value());
  }
  RawRocksDb raw(dir());
  EXPECT_EQ(raw.keys("due").size(), 3u) << "the old keys are gone";
  for (const std::string& key : raw.keys("due")) {
    EXPECT_TRUE(store_layout::parse_due_key(key).has_value());
  }
}

TEST_F(StoreMigrationLayoutTwoTest, AMigrationCutShortIsDoneAgainWhole) {
  // A crash part way: some keys of the new form written, the marker still "2".
  {
    RawRocksDb raw(dir());
    MessageRecord a = stored_message("A");
    a.qos.priority = 5;
    Delivery a0 = stored_delivery(a, 0, kStoreT0 + 2s);
    raw.put("due", store_layout::due_key(DuePosition::of(a0)), "");
    Delivery gone = stored_delivery(stored_message("Z"), 0, kStoreT0);
    raw.put("due", store_layout::due_key(DuePosition::of(gone)), "");
  }
  auto store = open_rocksdb_store(dir(), StoreMode::read_write);
  EXPECT_EQ(keys_of(due_in_every_band(*store, "local", TimePoint::max())),
            (std::vector<std::string>{"A/0", "B/0"}));
  store.reset();
  EXPECT_EQ(RawRocksDb(dir()).keys("due").size(), 3u);
}

TEST_F(StoreMigrationLayoutTwoTest, ReadOnlyOpenReadsAStoreNotYetMigratedWithoutItsDueIndex) {
  auto reader = open_rocksdb_store(dir(), StoreMode::read_only);
  EXPECT_EQ(test_support::all_unfinished(*reader).size(), 4u) << "A/0, A/1, B/0, C/0";
  EXPECT_EQ(reader->message("A")->qos.priority, 5);
  EXPECT_EQ(reader->deliveries("A")[0].priority, 0) << "not yet migrated";
  EXPECT_TRUE(due_in_every_band(*reader, "local", TimePoint::max()).empty())
      << "keys of the old form are not read as the new";
  EXPECT_TRUE(reader->damaged_records(10).empty());
  reader.reset();
  RawRocksDb raw(dir());
  EXPECT_EQ(raw.keys("due").size(), 3u) << "a reader changes nothing";
  EXPECT_FALSE(store_layout::parse_due_key(raw.keys("due").front()).has_value());
}

TEST_F(StoreMigrationLayoutTwoTest, ReadOnlyOpenOfTheMigratedStoreReadsTheBands) {
  auto daemon = open_rocksdb_store(dir(), StoreMode::read_write);
  auto reader = open_rocksdb_store(dir(), StoreMode::read_only);
  EXPECT_EQ(keys_of(due_in_every_band(*reader, "local", TimePoint::max())),
            (std::vector<std::string>{"A/0", "B/0"}));
}

}  // namespace
}  // namespace herald
