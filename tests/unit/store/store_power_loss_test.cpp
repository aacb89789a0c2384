// Power loss under the store (issue 8, "nothing acknowledged is ever lost"). The store is
// opened over PowerLossFileSystem (store/power_loss_file_system.h), which keeps what was not
// synced apart; threads write until power fails after a seeded number of file operations;
// the disk is put into the state a power failure leaves, and the store reopened the way
// heraldd opens it must hold every write that returned, whole, and of the others each one
// whole or not at all, with the due index, the pending set and the finished index agreeing.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "store/power_loss_fixture.h"

namespace herald {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test_support::any_part_present;
using test_support::event_at;
using test_support::ExpectedStore;
using test_support::kStoreT0;
using test_support::NewMessage;
using test_support::random_message;

using StorePowerLossTest = test_support::PowerLossStoreTest;

// Each seed picks the moment power fails (and the sizes and shapes of what is written).
constexpr std::array<uint32_t, 6> kSeeds = {1, 7, 42, 1234, 31337, 271828};
constexpr int kThreads = 6;
// A memtable budget this small fills every few commits: the writing goes on across flushes (table
// and blob files, manifest updates, a new WAL each time), compactions and file deletions.
constexpr size_t kMemtableBudget = 256 << 10;

// --- (a) commits ------------------------------------------------------------------------

// What one writing thread saw: the commits that returned before power failed, and the one
// that was under way then (or returned after), if any.
struct CommitLog {
  std::vector<NewMessage> returned;
  std::optional<NewMessage> in_doubt;
};

TEST_F(StorePowerLossTest, PowerLossDuringGroupCommitKeepsEveryAcknowledgedMessageWhole) {
  for (const uint32_t seed : kSeeds) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const fs::path directory = dir("commit-" + std::to_string(seed));
    std::mt19937 random(seed);
    auto store = open_over_file_system(directory, kMemtableBudget);
    // A thread's commits each cost an operation at least (the WAL append of its group; about
    // two with the sync), one after the other: power fails while they write, at a moment
    // each seed picks.
    constexpr int kCommitsPerThread = 500;
    stop_after(20 + random() % (kCommitsPerThread - 30));
    std::vector<CommitLog> logs(kThreads);
    std::atomic<int> writing = kThreads;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t, thread_seed = random()] {
        std::mt19937 own(thread_seed);
        for (int n = 0; n < kCommitsPerThread; ++n) {
          char id[32];
          std::snprintf(id, sizeof id, "%u-%02d-%04d", seed, t, n);
          NewMessage m = random_message(own, id);
          store->commit_message(m.record, m.content, m.deliveries, m.events);
          if (file_system_->stopped()) {
            logs[t].in_doubt = std::move(m);
            break;
          }
          logs[t].returned.push_back(std::move(m));
        }
        --writing;
      });
    }
    const auto disk = disk_after_stop(directory, [&] { return writing > 0; });
    for (auto& thread : threads) thread.join();
    store.reset();
    ASSERT_TRUE(disk) << "the commits all returned before power failed";

    store = reopen(*disk);
    ExpectedStore expected;
    for (const CommitLog& log : logs) {
      for (const NewMessage& m : log.returned) expected.add(m);
      // A commit under way is there whole or not at all.
      if (log.in_doubt && store->message(log.in_doubt->record.id)) expected.add(*log.in_doubt);
      if (log.in_doubt && !store->message(log.in_doubt->record.id)) {
        EXPECT_FALSE(any_part_present(*store, log.in_doubt->record.id)) << log.in_doubt->record.id;
      }
    }
    expected.check(*store);
    store.reset();
  }
}

// --- (b) outcomes -----------------------------------------------------------------------

// One write as the queue makes them: a new message (a commit, or the DSN a bounce causes),
// outcomes (an update and its event each) and events on the message, in one apply.
struct QueueWrite {
  std::optional<NewMessage> message;
  std::vector<StoreWrite::Update> updates;
  std::vector<StoreWrite::Event> events;

  void write_to(Store& store) const {
    if (message && updates.empty() && events.empty()) {
      store.commit_message(message->record, message->content, message->deliveries, message->events);
    } else if (!message && updates.size() == 1 && events.empty()) {
      store.update_delivery(updates[0].delivery, updates[0].events);
    } else {
      StoreWrite write;
      if (message) {
        write.messages.push_back(
            {message->record, message->content, message->deliveries, message->events});
      }
      write.updates = updates;
      write.events = events;
      store.apply(write);
    }
  }

  void apply_to(ExpectedStore& expected) const {
    if (message) expected.add(*message);
    for (const auto& u : updates) {
      expected.update(u.delivery);
      for (const auto& e : u.events) expected.append(u.delivery.message_id, e);
    }
    for (const auto& e : events) expected.append(e.message_id, e.event);
  }

  // Whether the store shows this write applied: its first update's delivery as written,
  // else its message.
  bool shown_in(Store& store) const {
    if (updates.empty()) return store.message(message->record.id).has_value();
    const Delivery& d = updates.front().delivery;
    for (const Delivery& stored : store.deliveries(d.message_id)) {
      if (stored.index == d.index) return encode_delivery(stored) == encode_delivery(d);
    }
    return false;
  }
};

// The writes that returned before power failed, and the one under way then (or returned
// after), if any.
struct WriteLog {
  std::vector<QueueWrite> returned;
  std::optional<QueueWrite> in_doubt;
};

// The outcomes the queue writes for one message: each delivery deferred (an update of its
// own, some held by an operator meanwhile), then every delivery made final in one apply,
// with a DSN when one bounced.
std::vector<QueueWrite> outcomes_for(const NewMessage& m, std::mt19937& random, int& step) {
  std::vector<QueueWrite> writes;
  std::vector<Delivery> current = m.deliveries;
  for (Delivery& d : current) {
    if (is_terminal(d.state)) continue;
    d.state = DeliveryState::deferred;
    d.attempts += 1;
    d.next_attempt += 1h + (random() % 600) * 1s;
    d.last_reply = "451 4.3.0 try again later";
    d.held = random() % 4 == 0;
    LedgerEvent e = event_at(kStoreT0 + 1h, "deferred");
    e.recipient = d.recipient;
    e.fields = {{"step", std::to_string(step++)}};
    writes.push_back({std::nullopt, {{d, {e}}}, {}});
  }
  QueueWrite final_write;
  bool bounced = false;
  for (Delivery& d : current) {
    if (is_terminal(d.state)) continue;
    d.state = random() % 2 == 0 ? DeliveryState::delivered : DeliveryState::bounced;
    d.held = false;
    bounced = bounced || d.state == DeliveryState::bounced;
    LedgerEvent e = event_at(kStoreT0 + 2h, std::string(to_string(d.state)));
    e.recipient = d.recipient;
    e.fields = {{"step", std::to_string(step++)}};
    final_write.updates.push_back({d, {e}});
  }
  if (final_write.updates.empty()) return writes;
  if (bounced) {
    NewMessage dsn = random_message(random, "dsn-" + m.record.id);
    for (Delivery& d : dsn.deliveries) {
      d.state = DeliveryState::queued;
      d.held = false;
    }
    final_write.message = std::move(dsn);
    LedgerEvent sent = event_at(kStoreT0 + 2h, "dsn-sent");
    sent.fields = {{"step", std::to_string(step++)}};
    final_write.events.push_back({m.record.id, sent});
  }
  writes.push_back(std::move(final_write));
  return writes;
}

TEST_F(StorePowerLossTest, PowerLossDuringOutcomesKeepsEveryRecordedOutcome) {
  constexpr int kQueuedPerThread = 8;
  // Messages a thread commits after its queued ones, until power fails: each costs a
  // write at least, so a thread makes more writes than the latest cut lets through.
  constexpr int kNewPerThread = 400;
  for (const uint32_t seed : kSeeds) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const fs::path directory = dir("outcomes-" + std::to_string(seed));
    std::mt19937 random(seed);
    const auto id_of = [&](int thread, int n) {
      char id[32];
      std::snprintf(id, sizeof id, "%u-%02d-%04d", seed, thread, n);
      return std::string(id);
    };
    ExpectedStore expected;
    // The queue as it stood before: committed and durable (closed cleanly).
    std::vector<std::vector<NewMessage>> queued(kThreads);
    {
      auto store = reopen(directory);
      for (int t = 0; t < kThreads; ++t) {
        for (int n = 0; n < kQueuedPerThread; ++n) {
          NewMessage m = random_message(random, id_of(t, n));
          store->commit_message(m.record, m.content, m.deliveries, m.events);
          expected.add(m);
          queued[t].push_back(std::move(m));
        }
      }
    }
    auto store = open_over_file_system(directory, kMemtableBudget);
    // A thread's writes each cost an operation at least (the WAL append; about two with its
    // sync), and it makes at least kNewPerThread of them: power fails while they write.
    stop_after(1 + random() % (kNewPerThread - 10));
    std::vector<WriteLog> logs(kThreads);
    std::atomic<int> writing = kThreads;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t, thread_seed = random()] {
        std::mt19937 own(thread_seed);
        int step = 0;
        // Each thread has messages of its own, as the queue has one outcome in flight per
        // delivery: what a write replaces is known.
        for (int n = 0; n < kQueuedPerThread + kNewPerThread; ++n) {
          std::vector<QueueWrite> writes;
          NewMessage m;
          if (n < kQueuedPerThread) {
            m = queued[t][n];
          } else {
            m = random_message(own, id_of(t, n));
            writes.push_back({m, {}, {}});
          }
          for (QueueWrite& write : outcomes_for(m, own, step)) writes.push_back(std::move(write));
          for (QueueWrite& write : writes) {
            write.write_to(*store);
            if (file_system_->stopped()) {
              logs[t].in_doubt = std::move(write);
              --writing;
              return;
            }
            logs[t].returned.push_back(std::move(write));
          }
        }
        --writing;
      });
    }
    const auto disk = disk_after_stop(directory, [&] { return writing > 0; });
    for (auto& thread : threads) thread.join();
    store.reset();
    ASSERT_TRUE(disk) << "the writes all returned before power failed";

    store = reopen(*disk);
    for (const WriteLog& log : logs) {
      for (const QueueWrite& write : log.returned) write.apply_to(expected);
      // A write under way is there whole or not at all: every part of it is checked against
      // the expectation this chooses.
      if (log.in_doubt && log.in_doubt->shown_in(*store)) log.in_doubt->apply_to(expected);
      if (log.in_doubt && log.in_doubt->message && !log.in_doubt->shown_in(*store)) {
        EXPECT_FALSE(any_part_present(*store, log.in_doubt->message->record.id));
      }
    }
    expected.check(*store);
    store.reset();
  }
}

}  // namespace
}  // namespace herald
