// Shared by the power-loss tests of the store: messages made to order, what the store must
// hold afterwards, and a fixture with the store's directory over PowerLossFileSystem.
#pragma once

#include <gtest/gtest.h>
#include <rocksdb/env.h>
#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "store/power_loss_file_system.h"
#include "store/record_codec.h"
#include "store/rocksdb_database.h"
#include "store/store.h"
#include "store/store_fixtures.h"
#include "support/temp_dir.h"

namespace herald::test_support {

constexpr std::array<const char*, 2> kTransports = {"local", "smtp"};

// A message as commit_message (or a StoreWrite) takes it.
struct NewMessage {
  MessageRecord record;
  std::string content;
  std::vector<Delivery> deliveries;
  std::vector<LedgerEvent> events;
};

inline NewMessage random_message(std::mt19937& random, const std::string& id) {
  NewMessage m;
  m.record = test_support::stored_message(id, kStoreT0);
  // Three priorities: the due entries fall in three bands.
  m.record.qos.priority = static_cast<int>(random() % 3) * 4 - 4;
  // Below and above the blob threshold (2 KiB): content goes to the WAL and to blob files.
  static constexpr std::array<size_t, 3> kSizes = {300, 3000, 20000};
  m.content.assign(kSizes[random() % kSizes.size()], static_cast<char>('a' + random() % 26));
  m.content += id;
  m.record.size = m.content.size();
  const uint32_t count = 1 + random() % 3;
  for (uint32_t i = 0; i < count; ++i) {
    Delivery d =
        test_support::stored_delivery(m.record, i, kStoreT0 + std::chrono::seconds(random() % 3600),
                                      kTransports[random() % kTransports.size()]);
    d.held = random() % 5 == 0;
    if (random() % 8 == 0) d.state = DeliveryState::discarded;
    m.deliveries.push_back(d);
  }
  m.events = {event_at(kStoreT0, "received"),
              event_at(kStoreT0 + std::chrono::milliseconds(1), "queued")};
  return m;
}

template <typename Record, typename Encode>
std::vector<std::string> encoded(const std::vector<Record>& records, Encode encode) {
  std::vector<std::string> out;
  for (const Record& r : records) out.push_back(encode(r));
  return out;
}

inline std::string key_of(const Delivery& d) {
  return d.message_id + "/" + std::to_string(d.index);
}

// Whether message `id` is in the store at all (any of its parts).
inline bool any_part_present(Store& store, const std::string& id) {
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
    contents_[m.record.id] = m.content;
    for (const Delivery& d : m.deliveries) deliveries_[key_of(d)] = d;
  }
  void update(const Delivery& d) {
    ASSERT_TRUE(deliveries_.contains(key_of(d)));
    deliveries_[key_of(d)] = d;
    Delivery& held = messages_.at(d.message_id).deliveries.at(d.index);
    held = d;
    if (all_terminal(d.message_id)) contents_.at(d.message_id).reset();
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
      // The store sets size and body_pieces from the content it stores.
      MessageRecord expected = m.record;
      expected.size = m.content.size();
      expected.body_pieces = record->body_pieces;
      EXPECT_GE(record->body_pieces, 1u);
      EXPECT_EQ(encode_message_record(*record), encode_message_record(expected));
      // Content is dropped exactly when every delivery is final (as the write that made the
      // last one final was applied); a message committed with none pending keeps it.
      const std::optional<std::string>& text = contents_.at(id);
      const auto content = store.content(id);
      EXPECT_EQ(content.has_value(), text.has_value());
      if (content && text) {
        EXPECT_TRUE(content->to_text() == *text) << "content differs";
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
           test_support::due_in_every_band(store, transport, kStoreT0 + std::chrono::hours(1000))) {
        EXPECT_TRUE(due_found.insert(key_of(d.delivery)).second) << key_of(d.delivery);
        EXPECT_EQ(encode_delivery(d.delivery), encode_delivery(deliveries_.at(key_of(d.delivery))));
      }
    }
    EXPECT_EQ(due_found, due);
    std::set<std::string> pending_found;
    for (const Delivery& d : store.unfinished_deliveries(std::nullopt, 100'000))
      pending_found.insert(key_of(d));
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
    EXPECT_EQ(store.remove_finished(kStoreT0 + std::chrono::hours(100'000), 100'000), finished);
    for (const auto& [id, m] : messages_) {
      EXPECT_EQ(store.message(id).has_value(), !all_terminal(id)) << id;
    }
  }

 private:
  // Content made here is never empty: empty stands for dropped.
  std::map<std::string, std::optional<std::string>> contents_;  // nullopt: dropped
  std::map<std::string, NewMessage> messages_;
  std::map<std::string, Delivery> deliveries_;
};

// Where the tests' stores go: in memory (tmpfs) when the machine has it. What survives a
// power failure is the model's to say, so the disk's own fsyncs only cost time (seconds per
// test on a busy disk, for opens that each sync a dozen times).
inline std::filesystem::path power_loss_scratch() {
  std::error_code ec;
  if (std::filesystem::is_directory("/dev/shm", ec)) return "/dev/shm";
  return std::filesystem::temp_directory_path();
}

class PowerLossStoreTest : public ::testing::Test {
 protected:
  PowerLossStoreTest()
      : temp_(power_loss_scratch()),
        file_system_(std::make_shared<PowerLossFileSystem>(temp_.path() / "trash")),
        env_(rocksdb::NewCompositeEnv(file_system_)) {
    spdlog::set_level(spdlog::level::off);
  }
  ~PowerLossStoreTest() override { spdlog::set_level(spdlog::level::info); }

  std::filesystem::path dir(const std::string& name = "store") const { return temp_.path() / name; }

  // `memtable_budget` as open_read_write_store's (0: heraldd's).
  std::unique_ptr<Store> open_over_file_system(const std::filesystem::path& directory,
                                               size_t memtable_budget = 0) {
    return store_layout::open_read_write_store(directory, env_.get(), memtable_budget);
  }

  // Power fails now (if it has not yet); the store goes without being able to write another
  // byte, as a process on a dead machine does; then the disk is what power loss leaves.
  void lose_power(std::unique_ptr<Store>& store) {
    file_system_->fail_now();
    store.reset();
    file_system_->lose_power();
    EXPECT_EQ(file_system_->unmodelled_calls(), 0u);
  }

  // Power fails `operations` changing calls from now, while the store goes on writing: the
  // machine stops there (PowerLossFileSystem::stop_after).
  void stop_after(uint64_t operations) { file_system_->stop_after(operations); }

  // Waits for that stop while `writing()` says writers are still at work; then copies
  // `directory` as the power failure left it, lets the writers go on (they never see an
  // error) and returns the copy. nullopt when the writers all finished before the stop.
  std::optional<std::filesystem::path> disk_after_stop(const std::filesystem::path& directory,
                                                       const std::function<bool()>& writing) {
    while (!file_system_->wait_for_stop(std::chrono::milliseconds(10))) {
      if (!writing()) return std::nullopt;
    }
    std::filesystem::path image = directory;
    image += "-after-power-loss";
    file_system_->disk_after_power_failure(directory, image);
    EXPECT_EQ(file_system_->unmodelled_calls(), 0u);
    return image;
  }

  // Reopened as heraldd opens it, straight on the disk.
  std::unique_ptr<Store> reopen(const std::filesystem::path& directory) {
    return open_rocksdb_store(directory, StoreMode::read_write);
  }

  TempDir temp_;
  std::shared_ptr<PowerLossFileSystem> file_system_;
  std::unique_ptr<rocksdb::Env> env_;
};

}  // namespace herald::test_support
