#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "store/store.h"
#include "util/message_id.h"

extern char** environ;

#include "store/store_fixtures.h"
#include "support/store_pages.h"
#include "support/stored_text.h"
#include "support/temp_dir.h"

namespace herald {
namespace {

namespace fs = std::filesystem;

using test_support::TempDir;

MessageRecord message_at(TimePoint t) {
  MessageRecord m;
  m.id = new_message_id(t);
  m.received_at = t;
  m.size = 11;
  m.envelope.mail_from = "sender@example.org";
  m.envelope.rcpt_to = {"alice@example.test", "bob@example.test"};
  m.envelope.peer_ip = "127.0.0.1";
  return m;
}

Delivery delivery_of(const MessageRecord& m, uint32_t index, std::string mailbox) {
  Delivery d;
  d.message_id = m.id;
  d.index = index;
  d.recipient = mailbox;
  d.mailbox = std::move(mailbox);
  d.next_attempt = m.received_at;
  return d;
}

LedgerEvent event(std::string type, std::string recipient = "") {
  LedgerEvent e;
  e.at = std::chrono::system_clock::now();
  e.type = std::move(type);
  e.recipient = std::move(recipient);
  return e;
}

const TimePoint kT0 = from_unix_ms(1'700'000'000'000);

class RocksDbStoreTest : public ::testing::Test {
 protected:
  fs::path dir() const { return temp_.path() / "store"; }
  std::unique_ptr<Store> open(StoreMode mode = StoreMode::read_write) {
    return open_rocksdb_store(dir(), mode);
  }

  // Commits a two-recipient message received at `t`; returns it.
  MessageRecord commit_two_recipient_message(Store& store, TimePoint t) {
    const MessageRecord m = message_at(t);
    store.commit_message(
        m, "Subject: hi\r\n\r\nbody\r\n",
        {delivery_of(m, 0, "alice@example.test"), delivery_of(m, 1, "bob@example.test")},
        {event("received"), event("queued", "alice@example.test"),
         event("queued", "bob@example.test")});
    return m;
  }

  TempDir temp_;
};

TEST_F(RocksDbStoreTest, CommittedMessageReadsBack) {
  auto store = open();
  const MessageRecord m = commit_two_recipient_message(*store, kT0);

  const auto record = store->message(m.id);
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->id, m.id);
  EXPECT_EQ(record->received_at, kT0);
  EXPECT_EQ(record->envelope.rcpt_to, m.envelope.rcpt_to);
  EXPECT_EQ(test_support::stored_text(*store, m.id), "Subject: hi\r\n\r\nbody\r\n");

  const auto deliveries = store->deliveries(m.id);
  ASSERT_EQ(deliveries.size(), 2u);
  EXPECT_EQ(deliveries[0].mailbox, "alice@example.test");
  EXPECT_EQ(deliveries[1].mailbox, "bob@example.test");
  EXPECT_EQ(deliveries[1].state, DeliveryState::queued);

  const auto ledger = store->ledger(m.id);
  ASSERT_EQ(ledger.size(), 3u);
  EXPECT_EQ(ledger[0].type, "received");
  EXPECT_EQ(ledger[2].recipient, "bob@example.test");
}

TEST_F(RocksDbStoreTest, ReadWriteOpenCreatesMissingDirectories) {
  const fs::path deep = temp_.path() / "data" / "dir" / "store";
  auto store = open_rocksdb_store(deep, StoreMode::read_write);
  commit_two_recipient_message(*store, kT0);
  EXPECT_TRUE(fs::exists(deep / "CURRENT"));
}

TEST_F(RocksDbStoreTest, AbsentMessageReadsAsNothing) {
  auto store = open();
  const std::string id = new_message_id(kT0);
  EXPECT_FALSE(store->message(id).has_value());
  EXPECT_FALSE(store->content(id).has_value());
  EXPECT_TRUE(store->deliveries(id).empty());
  EXPECT_TRUE(store->ledger(id).empty());
}

TEST_F(RocksDbStoreTest, LargeContentRoundTripsThroughBlobFiles) {
  const std::string body(3 * 1024 * 1024, 'x');
  std::string id;
  {
    auto store = open();
    const MessageRecord m = message_at(kT0);
    id = m.id;
    store->commit_message(m, body, {delivery_of(m, 0, "alice@example.test")}, {event("received")});
  }
  auto store = open();  // after a reopen the body comes from the flushed or replayed data
  EXPECT_EQ(test_support::stored_text(*store, id), body);
}

TEST_F(RocksDbStoreTest, TerminalUpdateLeavesPendingAndLastOneDropsContent) {
  auto store = open();
  const MessageRecord m = commit_two_recipient_message(*store, kT0);
  ASSERT_EQ(test_support::all_unfinished(*store).size(), 2u);

  Delivery alice = store->deliveries(m.id)[0];
  alice.state = DeliveryState::delivered;
  alice.attempts = 1;
  alice.last_reply = "delivered";
  store->update_delivery(alice, event("delivered", "alice@example.test"));

  auto pending = test_support::all_unfinished(*store);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].mailbox, "bob@example.test");
  EXPECT_TRUE(store->content(m.id).has_value()) << "bob still needs the content";

  Delivery bob = pending[0];
  bob.state = DeliveryState::deferred;
  bob.attempts = 1;
  store->update_delivery(bob, event("deferred", "bob@example.test"));
  EXPECT_EQ(test_support::all_unfinished(*store).size(), 1u) << "deferred is not terminal";

  bob.state = DeliveryState::bounced;
  bob.attempts = 2;
  store->update_delivery(bob, event("bounced", "bob@example.test"));
  EXPECT_TRUE(test_support::all_unfinished(*store).empty());
  EXPECT_FALSE(store->content(m.id).has_value());

  // Record, deliveries and ledger stay for `herald trace`.
  EXPECT_TRUE(store->message(m.id).has_value());
  const auto deliveries = store->deliveries(m.id);
  EXPECT_EQ(deliveries[0].state, DeliveryState::delivered);
  EXPECT_EQ(deliveries[1].state, DeliveryState::bounced);
  EXPECT_EQ(deliveries[1].attempts, 2u);
  EXPECT_EQ(store->ledger(m.id).size(), 6u);
}

TEST_F(RocksDbStoreTest, TwoDeliveriesFinishingAtOnceStillDropContent) {
  auto store = open();
  for (int round = 0; round < 50; ++round) {
    const MessageRecord m = commit_two_recipient_message(*store, kT0 + std::chrono::seconds(round));
    auto deliveries = store->deliveries(m.id);
    std::vector<std::thread> threads;
    for (auto& d : deliveries) {
      threads.emplace_back([&store, d]() mutable {
        d.state = DeliveryState::delivered;
        store->update_delivery(d, event("delivered", d.mailbox));
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_FALSE(store->content(m.id).has_value()) << "round " << round;
  }
  EXPECT_TRUE(test_support::all_unfinished(*store).empty());
}

TEST_F(RocksDbStoreTest, UpdateOfUnknownDeliveryIsRefused) {
  auto store = open();
  const MessageRecord m = message_at(kT0);
  EXPECT_THROW(store->update_delivery(delivery_of(m, 0, "alice@example.test"), event("delivered")),
               StoreError);
}

TEST_F(RocksDbStoreTest, LedgerKeepsAppendOrder) {
  auto store = open();
  const MessageRecord m = commit_two_recipient_message(*store, kT0);
  for (int i = 0; i < 100; ++i) {
    LedgerEvent e = event("note");
    e.fields = {{"n", std::to_string(i)}};
    store->append_event(m.id, e);
  }
  const auto ledger = store->ledger(m.id);
  ASSERT_EQ(ledger.size(), 103u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(ledger[3 + i].fields[0].second, std::to_string(i));
}

TEST_F(RocksDbStoreTest, ConcurrentAppendsToOneMessageAllLand) {
  auto store = open();
  const MessageRecord m = commit_two_recipient_message(*store, kT0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&store, &m, t] {
      for (int i = 0; i < 50; ++i) {
        LedgerEvent e = event("note");
        e.fields = {{"thread", std::to_string(t)}, {"n", std::to_string(i)}};
        store->append_event(m.id, e);
      }
    });
  }
  for (auto& t : threads) t.join();
  const auto ledger = store->ledger(m.id);
  ASSERT_EQ(ledger.size(), 3u + 8 * 50);
  // Each thread's own events come back in the order it appended them.
  std::map<std::string, int> next_of_thread;
  for (size_t i = 3; i < ledger.size(); ++i) {
    const auto& fields = ledger[i].fields;
    EXPECT_EQ(fields[1].second, std::to_string(next_of_thread[fields[0].second]++));
  }
}

TEST_F(RocksDbStoreTest, PendingDeliveriesSurviveReopenOldestFirst) {
  std::string older, newer;
  {
    auto store = open();
    newer = commit_two_recipient_message(*store, kT0 + std::chrono::hours(1)).id;
    older = commit_two_recipient_message(*store, kT0).id;
    Delivery d = store->deliveries(newer)[0];
    d.state = DeliveryState::delivered;
    store->update_delivery(d, event("delivered"));
  }
  auto store = open();
  const auto pending = test_support::all_unfinished(*store);
  ASSERT_EQ(pending.size(), 3u);
  EXPECT_EQ(pending[0].message_id, older);
  EXPECT_EQ(pending[1].message_id, older);
  EXPECT_EQ(pending[2].message_id, newer);
  EXPECT_EQ(pending[2].index, 1u);
}

TEST_F(RocksDbStoreTest, ConcurrentCommitsFromSixteenThreadsAllLand) {
  auto store = open();
  constexpr int kThreads = 16;
  constexpr int kPerThread = 40;
  std::vector<std::thread> threads;
  std::mutex ids_mutex;
  std::vector<std::string> ids;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        const MessageRecord m =
            commit_two_recipient_message(*store, std::chrono::system_clock::now());
        std::lock_guard lock(ids_mutex);
        ids.push_back(m.id);
      }
    });
  }
  for (auto& t : threads) t.join();
  store.reset();

  auto reopened = open();
  for (const auto& id : ids) {
    ASSERT_TRUE(reopened->message(id).has_value()) << id;
    EXPECT_EQ(reopened->deliveries(id).size(), 2u);
    EXPECT_EQ(reopened->ledger(id).size(), 3u);
  }
  EXPECT_EQ(test_support::all_unfinished(*reopened).size(), 2u * kThreads * kPerThread);
}

TEST_F(RocksDbStoreTest, ForEachMessageGoesNewestFirstAndStops) {
  auto store = open();
  const std::string a = commit_two_recipient_message(*store, kT0).id;
  const std::string b = commit_two_recipient_message(*store, kT0 + std::chrono::minutes(1)).id;
  const std::string c = commit_two_recipient_message(*store, kT0 + std::chrono::minutes(2)).id;
  std::vector<std::string> seen;
  store->for_each_message([&](const MessageRecord& m) {
    seen.push_back(m.id);
    return seen.size() < 2;
  });
  EXPECT_EQ(seen, (std::vector<std::string>{c, b}));
}

TEST_F(RocksDbStoreTest, ReadOnlyOpenSeesCommitsWhileReadWriteIsOpen) {
  const std::string big(256 * 1024, 'b');
  const MessageRecord flushed = message_at(kT0 - std::chrono::hours(1));
  open()->commit_message(flushed, big, {delivery_of(flushed, 0, "alice@example.test")}, {});
  auto writer = open();  // the first one flushed to table and blob files as it closed
  const MessageRecord m = commit_two_recipient_message(*writer, kT0);  // only in the WAL

  auto reader = open(StoreMode::read_only);
  EXPECT_TRUE(reader->message(flushed.id).has_value());
  ASSERT_TRUE(reader->message(m.id).has_value());
  EXPECT_EQ(reader->deliveries(m.id).size(), 2u);
  EXPECT_EQ(reader->ledger(m.id).size(), 3u);
  EXPECT_THROW(reader->content(m.id), StoreError) << "secondaries cannot read blob files";
  EXPECT_THROW(reader->append_event(m.id, event("note")), StoreError);

  // The writer carries on while the reader is open.
  commit_two_recipient_message(*writer, kT0 + std::chrono::seconds(1));
}

TEST_F(RocksDbStoreTest, ReadOnlyOpenOfMissingStoreSaysSo) {
  try {
    open(StoreMode::read_only);
    FAIL() << "no StoreError";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("no store in"), std::string::npos) << e.what();
  }
}

TEST_F(RocksDbStoreTest, SecondReadWriteOpenIsRefused) {
  auto first = open();
  try {
    open();
    FAIL() << "no StoreError";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("is heraldd already running?"), std::string::npos)
        << e.what();
  }
}

// The daemon and the CLI are separate processes. A child (this binary, running the disabled
// helper below) holds the store open read-write while this process reads it and tries to
// open it read-write as well.
bool wait_for_file(const fs::path& file) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!fs::exists(file)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

TEST_F(RocksDbStoreTest, AnotherProcessCanReadButNotWriteWhileTheDaemonHoldsTheStore) {
  const std::string env = "HERALD_STORE_CHILD_DIR=" + temp_.path().string();
  std::vector<std::string> args = {"/proc/self/exe", "--gtest_also_run_disabled_tests",
                                   "--gtest_brief=1",
                                   "--gtest_filter=StoreChildProcess.DISABLED_HoldsStoreOpen"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  envp.push_back(const_cast<char*>(env.c_str()));
  envp.push_back(nullptr);
  pid_t child = 0;
  ASSERT_EQ(::posix_spawn(&child, "/proc/self/exe", nullptr, nullptr, argv.data(), envp.data()), 0);

  const bool ready = wait_for_file(temp_.path() / "ready");
  if (ready) {
    std::ifstream in(temp_.path() / "ready");
    std::string id;
    in >> id;
    auto reader = open(StoreMode::read_only);
    EXPECT_TRUE(reader->message(id).has_value());
    EXPECT_EQ(test_support::all_unfinished(*reader).size(), 2u);
    try {
      open();
      ADD_FAILURE() << "second read-write open succeeded";
    } catch (const StoreError& e) {
      EXPECT_NE(std::string(e.what()).find("is heraldd already running?"), std::string::npos)
          << e.what();
    }
  }
  std::ofstream(temp_.path() / "done").put('\n');
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(ready) << "child never opened the store";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(StoreChildProcess, DISABLED_HoldsStoreOpen) {
  const char* dir = std::getenv("HERALD_STORE_CHILD_DIR");
  ASSERT_NE(dir, nullptr);
  const fs::path root(dir);
  auto store = open_rocksdb_store(root / "store", StoreMode::read_write);
  const MessageRecord m = message_at(kT0);
  store->commit_message(m, "x",
                        {delivery_of(m, 0, "a@example.test"), delivery_of(m, 1, "b@example.test")},
                        {event("received")});
  std::ofstream(root / "ready.tmp") << m.id << "\n";
  fs::rename(root / "ready.tmp", root / "ready");
  ASSERT_TRUE(wait_for_file(root / "done"));
}

TEST_F(RocksDbStoreTest, MalformedStoredRecordIsAStoreErrorAndPendingWalksSkipIt) {
  std::string id;
  {
    auto store = open();
    id = commit_two_recipient_message(*store, kT0).id;
  }
  // Damage the records behind the store's back (keys as documented in rocksdb_layout.h):
  // what a bug or a damaged disk leaves must give a StoreError, never a crash.
  {
    test_support::RawRocksDb raw(dir());
    raw.put("messages", id, "{\"id\": 12");
    raw.put("deliveries", id + "/0000000000", "not json at all");
  }
  auto store = open();
  EXPECT_THROW(store->message(id), StoreError);
  EXPECT_THROW(store->deliveries(id), StoreError);
  const auto pending = test_support::all_unfinished(*store);
  ASSERT_EQ(pending.size(), 1u) << "the damaged delivery is quarantined and skipped";
  EXPECT_EQ(pending[0].index, 1u);
  ASSERT_EQ(store->damaged_records(10).size(), 1u);
  EXPECT_EQ(store->damaged_records(10)[0].key, id + "/0000000000");
  EXPECT_EQ(store->ledger(id).size(), 3u) << "undamaged records stay readable";
}

}  // namespace
}  // namespace herald
