// Power loss under the store (issue 8, "nothing acknowledged is ever lost"). The store is
// opened over PowerLossFileSystem (store/power_loss_file_system.h), which keeps what was not
// synced apart; threads write until power fails after a seeded number of file operations;
// the disk is put into the state a power failure leaves, and the store reopened the way
// heraldd opens it must hold every write that returned, whole, and of the others each one
// whole or not at all, with the due index, the pending set and the finished index agreeing.
#include <gtest/gtest.h>
#include <rocksdb/env.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "store/power_loss_file_system.h"
#include "store/record_codec.h"
#include "store/rocksdb_database.h"
#include "store/store.h"
#include "store/store_fixtures.h"
#include "support/temp_dir.h"

namespace herald {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test_support::event_at;
using test_support::kStoreT0;
using test_support::PowerLossFileSystem;
using test_support::TempDir;

// Each seed picks the moment power fails (and the sizes and shapes of what is written).
constexpr std::array<uint32_t, 6> kSeeds = {1, 7, 42, 1234, 31337, 271828};
constexpr int kThreads = 6;
constexpr std::array<const char*, 2> kTransports = {"local", "smtp"};

// A message as commit_message (or a StoreWrite) takes it.
struct NewMessage {
  MessageRecord record;
  std::string content;
  std::vector<Delivery> deliveries;
  std::vector<LedgerEvent> events;
};

NewMessage random_message(std::mt19937& random, const std::string& id) {
  NewMessage m;
  m.record = test_support::stored_message(id, kStoreT0);
  // Below and above the blob threshold (2 KiB): content goes to the WAL and to blob files.
  static constexpr std::array<size_t, 3> kSizes = {300, 3000, 20000};
  m.content.assign(kSizes[random() % kSizes.size()], static_cast<char>('a' + random() % 26));
  m.content += id;
  m.record.size = m.content.size();
  const uint32_t count = 1 + random() % 3;
  for (uint32_t i = 0; i < count; ++i) {
    Delivery d = test_support::stored_delivery(m.record, i, kStoreT0 + (random() % 3600) * 1s,
                                               kTransports[random() % kTransports.size()]);
    d.held = random() % 5 == 0;
    if (random() % 8 == 0) d.state = DeliveryState::discarded;
    m.deliveries.push_back(d);
  }
  m.events = {event_at(kStoreT0, "received"), event_at(kStoreT0 + 1ms, "queued")};
  return m;
}

template <typename Record, typename Encode>
std::vector<std::string> encoded(const std::vector<Record>& records, Encode encode) {
  std::vector<std::string> out;
  for (const Record& r : records) out.push_back(encode(r));
  return out;
}

std::string key_of(const Delivery& d) {
  return d.message_id + "/" + std::to_string(d.index);
}

// Whether message `id` is in the store at all (any of its parts).
bool any_part_present(Store& store, const std::string& id) {
  return store.message(id) || store.content(id) || !store.deliveries(id).empty() ||
         !store.ledger(id).empty();
}

// What the store must hold after the power failure, message by message; built from the
// writes that returned and, for each one that failed, from what the store shows of it.
class ExpectedStore {
 public:
  // A committed message; its deliveries and content as committed.
  void add(const NewMessage& m) {
    messages_[m.record.id] = m;
    for (const Delivery& d : m.deliveries) deliveries_[key_of(d)] = d;
  }
  void update(const Delivery& d) {
    ASSERT_TRUE(deliveries_.contains(key_of(d)));
    deliveries_[key_of(d)] = d;
    Delivery& held = messages_.at(d.message_id).deliveries.at(d.index);
    held = d;
    if (all_terminal(d.message_id)) messages_.at(d.message_id).content.clear();
  }
  void append(const std::string& id, const LedgerEvent& e) { messages_.at(id).events.push_back(e); }

  bool all_terminal(const std::string& id) const {
    for (const Delivery& d : messages_.at(id).deliveries) {
      if (!is_terminal(d.state)) return false;
    }
    return true;
  }

  // Every message exactly as expected, the store's indexes agreeing, and nothing else in it.
  void check(Store& store) const {
    std::set<std::string> due;
    std::set<std::string> pending;
    size_t finished = 0;
    for (const auto& [id, m] : messages_) {
      SCOPED_TRACE("message " + id);
      const auto record = store.message(id);
      ASSERT_TRUE(record.has_value());
      EXPECT_EQ(encode_message_record(*record), encode_message_record(m.record));
      // Content is dropped exactly when every delivery is final (as the write that made the
      // last one final was applied); a message committed with none pending keeps it.
      const bool dropped = m.content.empty();
      const auto content = store.content(id);
      EXPECT_EQ(content.has_value(), !dropped);
      if (content && !dropped) {
        EXPECT_TRUE(*content == m.content) << "content differs";
      }
      EXPECT_EQ(encoded(store.deliveries(id), encode_delivery),
                encoded(m.deliveries, encode_delivery));
      EXPECT_EQ(encoded(store.ledger(id), encode_ledger_event),
                encoded(m.events, encode_ledger_event));
      for (const Delivery& d : m.deliveries) {
        if (!is_terminal(d.state)) pending.insert(key_of(d));
        if (!is_terminal(d.state) && !d.held) due.insert(key_of(d));
      }
      if (all_terminal(id)) ++finished;
    }
    std::set<std::string> due_found;
    for (const char* transport : kTransports) {
      for (const DueDelivery& d :
           store.due_deliveries(DuePosition::start_of(transport), kStoreT0 + 1000h, 100'000)) {
        EXPECT_TRUE(due_found.insert(key_of(d.delivery)).second) << key_of(d.delivery);
        EXPECT_EQ(encode_delivery(d.delivery), encode_delivery(deliveries_.at(key_of(d.delivery))));
      }
    }
    EXPECT_EQ(due_found, due);
    std::set<std::string> pending_found;
    for (const Delivery& d : store.pending_deliveries()) pending_found.insert(key_of(d));
    EXPECT_EQ(pending_found, pending);
    EXPECT_TRUE(store.damaged_records(10).empty());
    size_t stored = 0;
    store.for_each_message([&](const MessageRecord& record) {
      EXPECT_TRUE(messages_.contains(record.id)) << "unexpected message " << record.id;
      ++stored;
      return true;
    });
    EXPECT_EQ(stored, messages_.size());
    // The finished index holds exactly the messages with no pending delivery: retention
    // removes those and only those.
    EXPECT_EQ(store.remove_finished(kStoreT0 + 100'000h, 100'000), finished);
    for (const auto& [id, m] : messages_) {
      EXPECT_EQ(store.message(id).has_value(), !all_terminal(id)) << id;
    }
  }

  const std::map<std::string, NewMessage>& messages() const { return messages_; }

 private:
  std::map<std::string, NewMessage> messages_;
  std::map<std::string, Delivery> deliveries_;
};

class StorePowerLossTest : public ::testing::Test {
 protected:
  StorePowerLossTest()
      : file_system_(std::make_shared<PowerLossFileSystem>(temp_.path() / "trash")),
        env_(rocksdb::NewCompositeEnv(file_system_)) {
    spdlog::set_level(spdlog::level::off);
  }
  ~StorePowerLossTest() override { spdlog::set_level(spdlog::level::info); }

  fs::path dir(const std::string& name = "store") const { return temp_.path() / name; }

  std::unique_ptr<Store> open_over_file_system(const fs::path& directory) {
    return store_layout::open_read_write_store(directory, env_.get());
  }

  // Power fails now (if it has not yet); the store goes without being able to write another
  // byte, as a process on a dead machine does; then the disk is what power loss leaves.
  void lose_power(std::unique_ptr<Store>& store) {
    file_system_->fail_now();
    store.reset();
    file_system_->lose_power();
    EXPECT_EQ(file_system_->unmodelled_calls(), 0u);
  }

  // Reopened as heraldd opens it, straight on the disk.
  std::unique_ptr<Store> reopen(const fs::path& directory) {
    return open_rocksdb_store(directory, StoreMode::read_write);
  }

  TempDir temp_;
  std::shared_ptr<PowerLossFileSystem> file_system_;
  std::unique_ptr<rocksdb::Env> env_;
};

// --- (a) commits ------------------------------------------------------------------------

// What one writing thread saw: the commits that returned, and the one that threw, if any.
struct CommitLog {
  std::vector<NewMessage> returned;
  std::optional<NewMessage> failed;
};

TEST_F(StorePowerLossTest, PowerLossDuringGroupCommitKeepsEveryAcknowledgedMessageWhole) {
  for (const uint32_t seed : kSeeds) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const fs::path directory = dir("commit-" + std::to_string(seed));
    std::mt19937 random(seed);
    auto store = open_over_file_system(directory);
    // A thread's commits each cost an operation at least (the WAL append of its group; about
    // two with the sync), one after the other: power fails while they write, at a moment
    // each seed picks.
    constexpr int kCommitsPerThread = 500;
    file_system_->fail_after(1 + random() % (kCommitsPerThread - 10));
    std::vector<CommitLog> logs(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t, thread_seed = random()] {
        std::mt19937 own(thread_seed);
        for (int n = 0; n < kCommitsPerThread; ++n) {
          char id[32];
          std::snprintf(id, sizeof id, "%u-%02d-%04d", seed, t, n);
          NewMessage m = random_message(own, id);
          try {
            store->commit_message(m.record, m.content, m.deliveries, m.events);
            logs[t].returned.push_back(std::move(m));
          } catch (const StoreError&) {
            logs[t].failed = std::move(m);
            return;
          }
        }
      });
    }
    for (auto& thread : threads) thread.join();
    const bool cut_while_writing = file_system_->failed();
    lose_power(store);

    store = reopen(directory);
    ExpectedStore expected;
    size_t returned = 0;
    for (const CommitLog& log : logs) {
      for (const NewMessage& m : log.returned) expected.add(m);
      returned += log.returned.size();
      // A commit that threw is there whole or not at all.
      if (log.failed && store->message(log.failed->record.id)) expected.add(*log.failed);
      if (log.failed && !store->message(log.failed->record.id)) {
        EXPECT_FALSE(any_part_present(*store, log.failed->record.id)) << log.failed->record.id;
      }
    }
    EXPECT_TRUE(cut_while_writing);
    EXPECT_GT(returned, 0u);
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

struct WriteLog {
  std::vector<QueueWrite> returned;
  std::optional<QueueWrite> failed;
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
    auto store = open_over_file_system(directory);
    // A thread's writes each cost an operation at least (the WAL append; about two with its
    // sync), and it makes at least kNewPerThread of them: power fails while they write.
    file_system_->fail_after(1 + random() % (kNewPerThread - 10));
    std::vector<WriteLog> logs(kThreads);
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
            try {
              write.write_to(*store);
              logs[t].returned.push_back(std::move(write));
            } catch (const StoreError&) {
              logs[t].failed = std::move(write);
              return;
            }
          }
        }
      });
    }
    for (auto& thread : threads) thread.join();
    const bool cut_while_writing = file_system_->failed();
    lose_power(store);

    store = reopen(directory);
    for (const WriteLog& log : logs) {
      for (const QueueWrite& write : log.returned) write.apply_to(expected);
      // A write that threw is there whole or not at all: every part of it is checked
      // against the expectation this chooses.
      if (log.failed && log.failed->shown_in(*store)) log.failed->apply_to(expected);
      if (log.failed && log.failed->message && !log.failed->shown_in(*store)) {
        EXPECT_FALSE(any_part_present(*store, log.failed->message->record.id));
      }
    }
    EXPECT_TRUE(cut_while_writing);
    expected.check(*store);
    store.reset();
  }
}

}  // namespace
}  // namespace herald
