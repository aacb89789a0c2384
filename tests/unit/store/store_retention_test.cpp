// The finished index and remove_finished: which messages go, in which order, and that a
// message with a pending delivery never does.
#include <gtest/gtest.h>

#include <chrono>

#include "store/store.h"
#include "store/store_fixtures.h"
#include "support/temp_dir.h"

namespace herald {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test_support::event_at;
using test_support::kStoreT0;
using test_support::RawRocksDb;
using test_support::stored_delivery;
using test_support::stored_message;
using test_support::TempDir;

class StoreRetentionTest : public ::testing::Test {
 protected:
  StoreRetentionTest() : store_(open_rocksdb_store(dir(), StoreMode::read_write)) {}

  fs::path dir() const { return temp_.path() / "store"; }

  // Commits message `id` with one delivery, and when `finished_at` is given delivers it
  // with an event at that time.
  void commit(const std::string& id, std::optional<TimePoint> finished_at) {
    const MessageRecord m = stored_message(id);
    Delivery d = stored_delivery(m, 0, kStoreT0);
    store_->commit_message(m, "content", {d}, {event_at(kStoreT0, "received")});
    if (!finished_at) return;
    d.state = DeliveryState::delivered;
    store_->update_delivery(d, event_at(*finished_at, "delivered"));
  }

  bool exists(const std::string& id) { return store_->message(id).has_value(); }

  TempDir temp_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreRetentionTest, RemovesFinishedMessagesOldestFirstUpToTheLimit) {
  commit("A", kStoreT0 + 3h);
  commit("B", kStoreT0 + 1h);
  commit("C", kStoreT0 + 2h);
  commit("D", kStoreT0 + 5h);
  EXPECT_EQ(store_->remove_finished(kStoreT0 + 4h, 2), 2u);
  EXPECT_FALSE(exists("B"));
  EXPECT_FALSE(exists("C"));
  EXPECT_TRUE(exists("A")) << "finished later than C";
  EXPECT_EQ(store_->remove_finished(kStoreT0 + 4h, 10), 1u);
  EXPECT_FALSE(exists("A"));
  EXPECT_TRUE(exists("D")) << "finished after `before`";
  EXPECT_EQ(store_->remove_finished(kStoreT0 + 4h, 10), 0u);
  // `before` is exclusive.
  EXPECT_EQ(store_->remove_finished(kStoreT0 + 5h, 10), 0u);
  EXPECT_EQ(store_->remove_finished(kStoreT0 + 5h + 1ms, 10), 1u);
}

TEST_F(StoreRetentionTest, RemovalTakesRecordContentDeliveriesAndLedger) {
  commit("A", kStoreT0 + 1h);
  commit("B", kStoreT0 + 1h);
  EXPECT_EQ(store_->remove_finished(kStoreT0 + 2h, 1), 1u);
  EXPECT_FALSE(exists("A"));
  EXPECT_TRUE(store_->deliveries("A").empty());
  EXPECT_TRUE(store_->ledger("A").empty());
  EXPECT_EQ(store_->ledger("B").size(), 2u) << "the neighbour's rows stay";
  store_.reset();
  RawRocksDb raw(dir());
  for (const char* family : {"messages", "content", "deliveries", "ledger", "finished"}) {
    for (const auto& key : raw.keys(family)) {
      EXPECT_FALSE(key.ends_with("A") || key.starts_with("A")) << family << " " << key;
    }
  }
  EXPECT_EQ(raw.keys("finished").size(), 1u);
}

TEST_F(StoreRetentionTest, PendingMessagesAreNeverRemoved) {
  commit("A", std::nullopt);
  const MessageRecord b = stored_message("B");
  Delivery b0 = stored_delivery(b, 0, kStoreT0);
  Delivery b1 = stored_delivery(b, 1, kStoreT0);
  store_->commit_message(b, "content", {b0, b1}, {});
  b0.state = DeliveryState::bounced;
  store_->update_delivery(b0, event_at(kStoreT0, "bounced"));
  Delivery held = stored_delivery(stored_message("C"), 0, kStoreT0);
  held.held = true;
  store_->commit_message(stored_message("C"), "content", {held}, {});
  // Finished, then made pending again: its finished entry no longer holds.
  commit("D", kStoreT0);
  Delivery again = store_->deliveries("D")[0];
  again.state = DeliveryState::queued;
  store_->update_delivery(again, event_at(kStoreT0, "requeued"));
  EXPECT_EQ(store_->remove_finished(TimePoint::max() - 1h, 100), 0u);
  EXPECT_TRUE(exists("A"));
  EXPECT_TRUE(exists("B"));
  EXPECT_TRUE(exists("C"));
  EXPECT_TRUE(exists("D"));
  EXPECT_TRUE(store_->content("B").has_value());
}

TEST_F(StoreRetentionTest, FinishedAtTheLatestEventOfTheFinishingWrite) {
  const MessageRecord m = stored_message("A");
  Delivery d = stored_delivery(m, 0, kStoreT0);
  store_->commit_message(m, "content", {d}, {event_at(kStoreT0 + 9h, "received")});
  d.state = DeliveryState::delivered;
  StoreWrite write;
  write.updates.push_back({d, {event_at(kStoreT0 + 1h, "delivered")}});
  write.events.push_back({m.id, event_at(kStoreT0 + 2h, "dsn-sent")});
  store_->apply(write);
  EXPECT_EQ(store_->remove_finished(kStoreT0 + 2h, 10), 0u);
  EXPECT_EQ(store_->remove_finished(kStoreT0 + 2h + 1ms, 10), 1u);
}

TEST_F(StoreRetentionTest, UpdatingAFinalDeliveryAgainDoesNotFinishTheMessageTwice) {
  commit("A", kStoreT0 + 1h);
  Delivery d = store_->deliveries("A")[0];
  store_->update_delivery(d, event_at(kStoreT0 + 8h, "note"));
  EXPECT_EQ(store_->remove_finished(kStoreT0 + 2h, 10), 1u);
  store_.reset();
  EXPECT_TRUE(RawRocksDb(dir()).keys("finished").empty());
}

TEST_F(StoreRetentionTest, ManyFinishedMessagesGoInSeveralWrites) {
  for (int i = 0; i < 600; ++i) commit("M" + std::to_string(1000 + i), kStoreT0 + 1h);
  EXPECT_EQ(store_->remove_finished(kStoreT0 + 2h, 550), 550u);
  EXPECT_EQ(store_->remove_finished(kStoreT0 + 2h, 1000), 50u);
  size_t left = 0;
  store_->for_each_message([&](const MessageRecord&) { return ++left, true; });
  EXPECT_EQ(left, 0u);
}

}  // namespace
}  // namespace herald
