// The due index of the RocksDB store: what is in it, in which order, how writes move it, and
// apply()'s batched writes.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <set>
#include <thread>

#include "store/store.h"
#include "store/store_fixtures.h"
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

const TimePoint kForever = TimePoint::max();
// The band of priority 0, which every delivery of these tests has unless it says otherwise.
const uint8_t kNormal = DuePosition::band_of(0);

class DueIndexTest : public ::testing::Test {
 protected:
  fs::path dir() const { return temp_.path() / "store"; }
  void open() { store_ = open_rocksdb_store(dir(), StoreMode::read_write); }
  void close() { store_.reset(); }

  // Commits message `id` of `priority` with deliveries due at the given times on
  // `transport`.
  MessageRecord commit(std::string id, std::vector<TimePoint> due, std::string transport = "local",
                       int priority = 0) {
    MessageRecord m = stored_message(std::move(id));
    m.qos.priority = priority;
    std::vector<Delivery> deliveries;
    for (const TimePoint t : due) {
      deliveries.push_back(
          stored_delivery(m, static_cast<uint32_t>(deliveries.size()), t, transport));
    }
    store_->commit_message(m, "Subject: t\r\n\r\nbody\r\n", deliveries,
                           {event_at(kStoreT0, "received")});
    return m;
  }

  std::vector<DueDelivery> all_due(const std::string& transport = "local") {
    return test_support::due_in_every_band(*store_, transport, kForever);
  }

  // The due entries as stored, read with the store closed.
  std::vector<std::string> raw_due_keys() {
    close();
    std::vector<std::string> keys = RawRocksDb(dir()).keys("due");
    open();
    return keys;
  }

  TempDir temp_;
  std::unique_ptr<Store> store_;
};

TEST(DuePositionTest, OfTruncatesToMillisecondsAndStartOfComesFirst) {
  Delivery d;
  d.message_id = "M1";
  d.index = 3;
  d.transport = "smtp";
  d.next_attempt = kStoreT0 + 1'999us;
  const DuePosition p = DuePosition::of(d);
  EXPECT_EQ(p.transport, "smtp");
  EXPECT_EQ(p.band, kNormal);
  EXPECT_EQ(p.due, kStoreT0 + 1ms);
  EXPECT_EQ(p.message_id, "M1");
  EXPECT_EQ(p.index, 3u);
  EXPECT_LT(DuePosition::start_of("smtp", kNormal), p);
  d.next_attempt = from_unix_ms(-9'000'000'000'000);  // the earliest time a record holds
  EXPECT_LT(DuePosition::start_of("smtp", kNormal), DuePosition::of(d));
}

TEST(DuePositionTest, TheBandIsNineMinusThePriorityAndOrdersBeforeTime) {
  EXPECT_EQ(DuePosition::band_of(9), 0);
  EXPECT_EQ(DuePosition::band_of(0), 9);
  EXPECT_EQ(DuePosition::band_of(-9), 18);
  EXPECT_EQ(DuePosition::band_of(42), 0) << "out of range: the nearest end";
  EXPECT_EQ(DuePosition::band_of(-42), 18);
  Delivery bulk;
  bulk.message_id = "A";
  bulk.next_attempt = kStoreT0;
  Delivery urgent = bulk;
  urgent.message_id = "B";
  urgent.priority = 5;
  urgent.next_attempt = kStoreT0 + 1h;
  EXPECT_EQ(DuePosition::of(urgent).band, 4);
  EXPECT_LT(DuePosition::of(urgent), DuePosition::of(bulk)) << "due later, but urgent";
  EXPECT_LT(DuePosition::of(urgent), DuePosition::start_of("local", kNormal));
}

TEST_F(DueIndexTest, EntriesComeByTimeThenIdThenIndexWithinOneTransport) {
  open();
  commit("B", {kStoreT0 + 2s, kStoreT0 + 1s});
  commit("A", {kStoreT0 + 2s});
  commit("C", {kStoreT0 - 5s, kStoreT0 + 1s});  // before and after the epoch offset works
  commit("D", {from_unix_ms(-1'000)});          // before 1970: still in numeric order
  commit("X", {kStoreT0}, "smtp");
  EXPECT_EQ(keys_of(all_due()),
            (std::vector<std::string>{"D/0", "C/0", "B/1", "C/1", "A/0", "B/0"}));
  EXPECT_EQ(keys_of(all_due("smtp")), (std::vector<std::string>{"X/0"}));
  EXPECT_TRUE(all_due("lmtp").empty());
  // A transport whose name extends another's is a transport of its own.
  commit("Y", {kStoreT0}, "smtp2");
  EXPECT_EQ(keys_of(all_due("smtp")), (std::vector<std::string>{"X/0"}));
}

TEST_F(DueIndexTest, BandsComeHighestPriorityFirstAndEachIsReadApart) {
  open();
  commit("A", {kStoreT0}, "local", -3);
  commit("B", {kStoreT0 + 1s});
  commit("C", {kStoreT0 + 2s}, "local", 5);
  commit("D", {kStoreT0 - 1s}, "local", 5);
  commit("E", {kStoreT0}, "local", 9);
  EXPECT_EQ(keys_of(all_due()), (std::vector<std::string>{"E/0", "D/0", "C/0", "B/0", "A/0"}));
  // One read stays in the band of `after`.
  EXPECT_EQ(keys_of(store_->due_deliveries(DuePosition::start_of("local", 4), kForever, 10)),
            (std::vector<std::string>{"D/0", "C/0"}));
  EXPECT_TRUE(store_->due_deliveries(DuePosition::start_of("local", 5), kForever, 10).empty());
  EXPECT_EQ(keys_of(store_->due_deliveries(DuePosition::start_of("local", 0), kForever, 10)),
            (std::vector<std::string>{"E/0"}));
  // The delivery comes back with its priority; its entry is in its band.
  const auto urgent = store_->due_deliveries(DuePosition::start_of("local", 4), kForever, 1);
  ASSERT_EQ(urgent.size(), 1u);
  EXPECT_EQ(urgent[0].delivery.priority, 5);
  EXPECT_EQ(urgent[0].message->qos.priority, 5);
}

TEST_F(DueIndexTest, ADeliveryWhosePriorityIsNotItsMessagesIsRefused) {
  open();
  MessageRecord m = stored_message("A");
  m.qos.priority = 3;
  Delivery d = stored_delivery(m, 0, kStoreT0);
  d.priority = 0;
  EXPECT_THROW(store_->commit_message(m, "Subject: t\r\n\r\nbody\r\n", {d}, {}),
               std::invalid_argument);
  EXPECT_FALSE(store_->message("A"));
}

TEST_F(DueIndexTest, SlicesHonourAfterUntilAndLimit) {
  open();
  commit("A", {kStoreT0, kStoreT0 + 1s, kStoreT0 + 2s, kStoreT0 + 3s});
  const auto first = store_->due_deliveries(DuePosition::start_of("local", kNormal), kForever, 2);
  ASSERT_EQ(keys_of(first), (std::vector<std::string>{"A/0", "A/1"}));
  // `after` itself is left out; the next slice starts behind it.
  const auto second = store_->due_deliveries(DuePosition::of(first.back().delivery), kForever, 10);
  EXPECT_EQ(keys_of(second), (std::vector<std::string>{"A/2", "A/3"}));
  // `until` is inclusive, to the millisecond.
  EXPECT_EQ(
      keys_of(store_->due_deliveries(DuePosition::start_of("local", kNormal), kStoreT0 + 1s, 10)),
      (std::vector<std::string>{"A/0", "A/1"}));
  EXPECT_EQ(keys_of(store_->due_deliveries(DuePosition::start_of("local", kNormal),
                                           kStoreT0 + 1s - 1us, 10)),
            (std::vector<std::string>{"A/0"}));
  EXPECT_TRUE(store_->due_deliveries(DuePosition::start_of("local", kNormal), kForever, 0).empty());
}

TEST_F(DueIndexTest, DeliveriesOfOneMessageShareOneRecord) {
  open();
  const MessageRecord m = commit("A", {kStoreT0, kStoreT0});
  const auto due = all_due();
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].message.get(), due[1].message.get());
  EXPECT_EQ(due[0].message->id, m.id);
  EXPECT_EQ(due[0].message->envelope.mail_from, "sender@example.org");
}

TEST_F(DueIndexTest, HeldAndTerminalDeliveriesAreNotInTheIndexAndReleasePutsItBack) {
  open();
  const MessageRecord m = stored_message("A");
  Delivery held = stored_delivery(m, 0, kStoreT0);
  held.held = true;
  Delivery done = stored_delivery(m, 1, kStoreT0);
  done.state = DeliveryState::delivered;
  Delivery queued = stored_delivery(m, 2, kStoreT0);
  store_->commit_message(m, "x", {held, done, queued}, {});
  EXPECT_EQ(keys_of(all_due()), (std::vector<std::string>{"A/2"}));
  EXPECT_EQ(store_->unfinished_deliveries(std::nullopt, 10).size(), 2u) << "held is unfinished";

  held.held = false;
  store_->update_delivery(held, event_at(kStoreT0, "released"));
  EXPECT_EQ(keys_of(all_due()), (std::vector<std::string>{"A/0", "A/2"}));
  queued.held = true;
  store_->update_delivery(queued, event_at(kStoreT0, "held"));
  EXPECT_EQ(keys_of(all_due()), (std::vector<std::string>{"A/0"}));
  held.state = DeliveryState::bounced;
  store_->update_delivery(held, event_at(kStoreT0, "bounced"));
  EXPECT_TRUE(all_due().empty());
  EXPECT_EQ(raw_due_keys().size(), 0u);
}

TEST_F(DueIndexTest, UpdateMovesTheEntryAndLeavesNoOldOne) {
  open();
  const MessageRecord m = commit("A", {kStoreT0});
  commit("B", {kStoreT0 + 1s});
  Delivery d = store_->deliveries(m.id)[0];
  d.state = DeliveryState::deferred;
  d.attempts = 1;
  d.next_attempt = kStoreT0 + 10s;
  store_->update_delivery(d, event_at(kStoreT0, "deferred"));
  EXPECT_EQ(keys_of(all_due()), (std::vector<std::string>{"B/0", "A/0"}));
  EXPECT_EQ(raw_due_keys().size(), 2u) << "the old entry of A/0 is gone, not skipped";
  EXPECT_EQ(
      store_->due_deliveries(DuePosition::start_of("local", kNormal), kStoreT0 + 5s, 10).size(),
      1u);
  // A new transport moves it to that transport's part of the index.
  d.transport = "smtp";
  store_->update_delivery(d, event_at(kStoreT0, "rerouted"));
  EXPECT_EQ(keys_of(all_due()), (std::vector<std::string>{"B/0"}));
  EXPECT_EQ(keys_of(all_due("smtp")), (std::vector<std::string>{"A/0"}));
  EXPECT_EQ(raw_due_keys().size(), 2u);
}

TEST_F(DueIndexTest, IndexSurvivesReopen) {
  open();
  commit("A", {kStoreT0 + 1s, kStoreT0});
  close();
  open();
  EXPECT_EQ(keys_of(all_due()), (std::vector<std::string>{"A/1", "A/0"}));
}

TEST_F(DueIndexTest, ApplyWritesMessagesUpdatesAndEventsTogether) {
  open();
  const MessageRecord a = commit("A", {kStoreT0});
  Delivery a0 = store_->deliveries(a.id)[0];
  a0.state = DeliveryState::bounced;

  StoreWrite write;
  StoreWrite::NewMessage dsn;
  dsn.record = stored_message("DSN");
  dsn.content = "Subject: Undelivered\r\n\r\n";
  dsn.deliveries = {stored_delivery(dsn.record, 0, kStoreT0, "smtp")};
  dsn.events = {event_at(kStoreT0, "received")};
  write.messages.push_back(dsn);
  write.updates.push_back({a0, {event_at(kStoreT0 + 1s, "bounced")}});
  write.events.push_back({a.id, event_at(kStoreT0 + 2s, "dsn-sent")});
  store_->apply(write);

  EXPECT_TRUE(all_due().empty());
  EXPECT_EQ(keys_of(all_due("smtp")), (std::vector<std::string>{"DSN/0"}));
  EXPECT_EQ(store_->deliveries(a.id)[0].state, DeliveryState::bounced);
  EXPECT_FALSE(store_->content(a.id).has_value()) << "its last delivery is final";
  ASSERT_EQ(store_->ledger(a.id).size(), 3u);
  EXPECT_EQ(store_->ledger(a.id)[1].type, "bounced");
  EXPECT_EQ(store_->ledger(a.id)[2].type, "dsn-sent");
  EXPECT_EQ(test_support::stored_text(*store_, "DSN"), dsn.content.header + dsn.content.rest);
}

TEST_F(DueIndexTest, ApplyThatFailsWritesNothing) {
  open();
  const MessageRecord a = commit("A", {kStoreT0});
  Delivery a0 = store_->deliveries(a.id)[0];
  a0.state = DeliveryState::delivered;

  StoreWrite mismatched;
  StoreWrite::NewMessage bad;
  bad.record = stored_message("N");
  bad.deliveries = {stored_delivery(stored_message("OTHER"), 0, kStoreT0)};
  mismatched.messages.push_back(bad);
  mismatched.updates.push_back({a0, {event_at(kStoreT0, "delivered")}});
  EXPECT_THROW(store_->apply(mismatched), std::invalid_argument);

  StoreWrite unknown;
  unknown.messages.push_back({stored_message("N2"), "x", {}, {}});
  unknown.updates.push_back({a0, {event_at(kStoreT0, "delivered")}});
  Delivery ghost = stored_delivery(stored_message("GHOST"), 0, kStoreT0);
  unknown.updates.push_back({ghost, {}});
  EXPECT_THROW(store_->apply(unknown), StoreError);

  EXPECT_FALSE(store_->message("N").has_value());
  EXPECT_FALSE(store_->message("N2").has_value());
  EXPECT_EQ(store_->deliveries(a.id)[0].state, DeliveryState::queued);
  EXPECT_EQ(store_->ledger(a.id).size(), 1u);
  EXPECT_EQ(keys_of(all_due()), (std::vector<std::string>{"A/0"}));
}

TEST_F(DueIndexTest, TwoDeliveriesOfOneMessageFinishingInOneApplyDropTheContentOnce) {
  open();
  const MessageRecord a = commit("A", {kStoreT0, kStoreT0});
  auto ds = store_->deliveries(a.id);
  ds[0].state = DeliveryState::delivered;
  ds[1].state = DeliveryState::bounced;
  StoreWrite write;
  write.updates.push_back({ds[0], {event_at(kStoreT0 + 3s, "delivered")}});
  write.updates.push_back({ds[1], {event_at(kStoreT0 + 4s, "bounced")}});
  store_->apply(write);
  EXPECT_FALSE(store_->content(a.id).has_value());
  EXPECT_TRUE(store_->unfinished_deliveries(std::nullopt, 10).empty());
  close();
  const auto finished = RawRocksDb(dir()).keys("finished");
  ASSERT_EQ(finished.size(), 1u) << "one finished entry for the message";
  EXPECT_TRUE(finished[0].ends_with("A"));
}

TEST_F(DueIndexTest, ADeliveryUpdatedTwiceInOneApplyTakesTheLaterOne) {
  open();
  const MessageRecord a = commit("A", {kStoreT0, kStoreT0});
  Delivery first = store_->deliveries(a.id)[0];
  first.state = DeliveryState::deferred;
  first.next_attempt = kStoreT0 + 1min;
  Delivery second = first;
  second.state = DeliveryState::delivered;
  StoreWrite write;
  write.updates.push_back({first, {event_at(kStoreT0, "deferred")}});
  write.updates.push_back({second, {event_at(kStoreT0, "delivered")}});
  store_->apply(write);
  EXPECT_EQ(store_->deliveries(a.id)[0].state, DeliveryState::delivered);
  EXPECT_EQ(keys_of(all_due()), (std::vector<std::string>{"A/1"}));
  EXPECT_EQ(store_->ledger(a.id).size(), 3u) << "the events of both are kept";
  EXPECT_TRUE(store_->content(a.id).has_value()) << "A/1 is still pending";
  EXPECT_EQ(raw_due_keys().size(), 1u);
}

TEST_F(DueIndexTest, ApplyMayUpdateADeliveryItCommits) {
  open();
  StoreWrite write;
  StoreWrite::NewMessage m;
  m.record = stored_message("A");
  m.content = "x";
  m.deliveries = {stored_delivery(m.record, 0, kStoreT0), stored_delivery(m.record, 1, kStoreT0)};
  write.messages.push_back(m);
  Delivery done = m.deliveries[0];
  done.state = DeliveryState::delivered;
  write.updates.push_back({done, {event_at(kStoreT0, "delivered")}});
  store_->apply(write);
  EXPECT_EQ(keys_of(all_due()), (std::vector<std::string>{"A/1"}));
  EXPECT_EQ(store_->deliveries("A")[0].state, DeliveryState::delivered);
  EXPECT_TRUE(store_->content("A").has_value()) << "A/1 is pending";
  EXPECT_EQ(raw_due_keys().size(), 1u);
}

TEST_F(DueIndexTest, ConcurrentAppliesOverTheSameMessagesInEitherOrderAllLand) {
  open();
  std::vector<MessageRecord> messages;
  for (int i = 0; i < 8; ++i) {
    messages.push_back(commit("M" + std::to_string(i), {kStoreT0, kStoreT0}));
  }
  // Thread t updates delivery t of every message, in an order of its own: the locks of
  // one write are taken in one order whatever the order of its parts.
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round) {
        StoreWrite write;
        for (size_t i = 0; i < messages.size(); ++i) {
          const auto& m = messages[t == 0 ? i : messages.size() - 1 - i];
          Delivery d = stored_delivery(m, t, kStoreT0 + std::chrono::seconds(round));
          if (round == 49) d.state = DeliveryState::delivered;
          write.updates.push_back({d, {event_at(kStoreT0, "attempt")}});
        }
        store_->apply(write);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_TRUE(all_due().empty());
  for (const auto& m : messages) {
    EXPECT_FALSE(store_->content(m.id).has_value()) << m.id;
    EXPECT_EQ(store_->ledger(m.id).size(), 101u);
  }
  close();
  RawRocksDb raw(dir());
  EXPECT_TRUE(raw.keys("due").empty());
  EXPECT_EQ(raw.keys("finished").size(), messages.size()) << "each finished exactly once";
}

TEST_F(DueIndexTest, HundredThousandEntriesReadInSlicesComeOnceEachInOrder) {
  open();
  constexpr int kMessages = 10'000;
  constexpr int kPerMessage = 10;
  {
    // Spread over times so that time order and id order differ.
    StoreWrite write;
    for (int i = 0; i < kMessages; ++i) {
      char id[16];
      std::snprintf(id, sizeof id, "M%06d", i);
      StoreWrite::NewMessage m;
      m.record = stored_message(id);
      for (int j = 0; j < kPerMessage; ++j) {
        m.deliveries.push_back(
            stored_delivery(m.record, j, kStoreT0 + std::chrono::milliseconds((i * 7919) % 5000)));
      }
      write.messages.push_back(std::move(m));
      if (write.messages.size() == 1'000) {
        store_->apply(write);
        write = {};
      }
    }
  }
  std::set<std::string> seen;
  DuePosition after = DuePosition::start_of("local", kNormal);
  size_t slices = 0;
  while (true) {
    const auto slice = store_->due_deliveries(after, kForever, 1'000);
    if (slice.empty()) break;
    ++slices;
    for (const auto& d : slice) {
      const DuePosition p = DuePosition::of(d.delivery);
      ASSERT_LT(after, p);
      after = p;
      ASSERT_TRUE(
          seen.insert(d.delivery.message_id + "/" + std::to_string(d.delivery.index)).second);
    }
    ASSERT_LE(slices, 101u);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kMessages * kPerMessage));
  EXPECT_EQ(slices, 100u);
}

}  // namespace
}  // namespace herald
