#include "queue/queue_runner.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "support/temp_dir.h"
#include "util/message_id.h"

namespace herald {
namespace {

namespace fs = std::filesystem;
using std::chrono::minutes;
using Outcome = AttemptResult::Outcome;

using test_support::TempDir;

// Answers attempts from a script (the last answer repeats), records what it was asked, and
// can hold attempts until released.
class FakeTransport final : public Transport {
 public:
  explicit FakeTransport(std::vector<Outcome> script) : script_(std::move(script)) {}

  AttemptResult attempt(const MessageRecord&, const Delivery& delivery,
                        std::string_view content) override {
    std::unique_lock lock(mutex_);
    ++running_;
    max_running_ = std::max(max_running_, running_);
    int& in_mailbox = running_per_mailbox_[delivery.mailbox];
    ++in_mailbox;
    max_per_mailbox_ = std::max(max_per_mailbox_, in_mailbox);
    calls_.push_back(delivery);
    contents_.emplace_back(content);
    changed_.notify_all();
    changed_.wait_for(lock, std::chrono::seconds(10), [&] { return !held_; });
    --running_;
    --running_per_mailbox_[delivery.mailbox];
    const Outcome outcome = script_[std::min(calls_.size() - 1, script_.size() - 1)];
    AttemptResult r;
    r.outcome = outcome;
    switch (outcome) {
      case Outcome::delivered:
        r.reply = "2.0.0 delivered to Maildir";
        r.fields = {{"mailbox", "/mail/" + delivery.mailbox + "/new/f"}};
        break;
      case Outcome::temporary:
        r.reply = "4.3.1 mail system full";
        break;
      case Outcome::permanent:
        r.reply = "5.1.3 mailbox address cannot name a mailbox directory safely";
        break;
    }
    return r;
  }

  void hold() {
    std::lock_guard lock(mutex_);
    held_ = true;
  }
  void release() {
    std::lock_guard lock(mutex_);
    held_ = false;
    changed_.notify_all();
  }
  bool wait_for_calls(size_t n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return calls_.size() >= n; });
  }
  size_t calls() {
    std::lock_guard lock(mutex_);
    return calls_.size();
  }
  int max_running() {
    std::lock_guard lock(mutex_);
    return max_running_;
  }
  int max_running_in_one_mailbox() {
    std::lock_guard lock(mutex_);
    return max_per_mailbox_;
  }
  std::string content(size_t call) {
    std::lock_guard lock(mutex_);
    return contents_.at(call);
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Outcome> script_;
  std::vector<Delivery> calls_;
  std::vector<std::string> contents_;
  bool held_ = false;
  int running_ = 0;
  int max_running_ = 0;
  std::map<std::string, int> running_per_mailbox_;
  int max_per_mailbox_ = 0;
};

// A Store that fails update_delivery a given number of times, as a full disk would.
class FailingUpdates final : public Store {
 public:
  FailingUpdates(Store& inner, int failures) : inner_(inner), failures_(failures) {}
  void commit_message(const MessageRecord& m, std::string_view c, const std::vector<Delivery>& d,
                      const std::vector<LedgerEvent>& e) override {
    inner_.commit_message(m, c, d, e);
  }
  void update_delivery(const Delivery& d, const LedgerEvent& e) override {
    if (failures_-- > 0) throw StoreError("store write failed: IO error: No space left on device");
    inner_.update_delivery(d, e);
  }
  void append_event(std::string_view id, const LedgerEvent& e) override {
    inner_.append_event(id, e);
  }
  std::optional<MessageRecord> message(std::string_view id) override { return inner_.message(id); }
  std::optional<std::string> content(std::string_view id) override { return inner_.content(id); }
  std::vector<Delivery> deliveries(std::string_view id) override { return inner_.deliveries(id); }
  std::vector<LedgerEvent> ledger(std::string_view id) override { return inner_.ledger(id); }
  std::vector<Delivery> pending_deliveries() override { return inner_.pending_deliveries(); }
  void for_each_message(const std::function<bool(const MessageRecord&)>& visit) override {
    inner_.for_each_message(visit);
  }

 private:
  Store& inner_;
  std::atomic<int> failures_;
};

const TimePoint kT0 = from_unix_ms(1'700'000'000'000);

// The runner logs every outcome at info; the tests read outcomes from the store instead.
const bool kQuietLogs = [] {
  spdlog::set_level(spdlog::level::warn);
  return true;
}();

class QueueRunnerTest : public ::testing::Test {
 protected:
  QueueRunnerTest()
      : clock_(kT0), store_(open_rocksdb_store(temp_.path() / "store", StoreMode::read_write)) {
    config_.retry_backoff = {minutes(10)};
    config_.max_age = minutes(15);
    config_.local_delivery_workers = 4;
  }

  // Commits a message with one delivery per mailbox, received now; returns its deliveries.
  std::vector<Delivery> commit(std::vector<std::string> mailboxes) {
    MessageRecord m;
    m.id = new_message_id(clock_.now());
    m.received_at = clock_.now();
    m.envelope.mail_from = "sender@example.org";
    std::vector<Delivery> deliveries;
    for (const auto& mailbox : mailboxes) {
      Delivery d;
      d.message_id = m.id;
      d.index = static_cast<uint32_t>(deliveries.size());
      d.recipient = mailbox;
      d.mailbox = mailbox;
      d.next_attempt = m.received_at;
      deliveries.push_back(d);
    }
    LedgerEvent received;
    received.at = clock_.now();
    received.type = "received";
    store_->commit_message(m, "Subject: test\r\n\r\nhello\r\n", deliveries, {received});
    return deliveries;
  }

  Delivery stored(const Delivery& d) { return store_->deliveries(d.message_id).at(d.index); }

  // Waits (bounded) until the stored delivery reaches `state` with `attempts` attempts.
  bool wait_for_state(const Delivery& d, DeliveryState state, uint32_t attempts) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      const Delivery now = stored(d);
      if (now.state == state && now.attempts == attempts) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  std::vector<std::string> event_types(const std::string& message_id) {
    std::vector<std::string> types;
    for (const auto& e : store_->ledger(message_id)) types.push_back(e.type);
    return types;
  }

  TempDir temp_;
  ManualClock clock_;
  std::unique_ptr<Store> store_;
  QueueConfig config_;
};

TEST_F(QueueRunnerTest, DeliveredAttemptIsRecordedWithItsMailbox) {
  FakeTransport transport({Outcome::delivered});
  QueueRunner runner(*store_, transport, clock_, config_);
  runner.start();
  const auto deliveries = commit({"alice@example.test"});
  runner.enqueue(deliveries);

  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::delivered, 1));
  EXPECT_EQ(stored(deliveries[0]).last_reply, "2.0.0 delivered to Maildir");
  EXPECT_EQ(transport.content(0), "Subject: test\r\n\r\nhello\r\n");
  const auto ledger = store_->ledger(deliveries[0].message_id);
  ASSERT_EQ(ledger.size(), 2u);
  EXPECT_EQ(ledger[1].type, "delivered");
  EXPECT_EQ(ledger[1].recipient, "alice@example.test");
  EXPECT_EQ(ledger[1].fields.at(0),
            std::make_pair(std::string("mailbox"), std::string("/mail/alice@example.test/new/f")));
  EXPECT_TRUE(store_->pending_deliveries().empty());
  EXPECT_FALSE(store_->content(deliveries[0].message_id).has_value());
}

TEST_F(QueueRunnerTest, TemporaryFailureIsRetriedAfterTheBackoff) {
  FakeTransport transport({Outcome::temporary, Outcome::delivered});
  QueueRunner runner(*store_, transport, clock_, config_);
  runner.start();
  const auto deliveries = commit({"alice@example.test"});
  runner.enqueue(deliveries);

  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 1));
  const Delivery deferred = stored(deliveries[0]);
  EXPECT_GE(deferred.next_attempt, kT0 + minutes(10));
  EXPECT_LE(deferred.next_attempt, kT0 + minutes(11));
  EXPECT_EQ(deferred.last_reply, "4.3.1 mail system full");

  clock_.advance(minutes(9));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // past a worker's re-check
  EXPECT_EQ(transport.calls(), 1u) << "retried before its time";

  clock_.advance(minutes(2));
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::delivered, 2));
  EXPECT_EQ(event_types(deliveries[0].message_id),
            (std::vector<std::string>{"received", "deferred", "delivered"}));
}

TEST_F(QueueRunnerTest, PermanentFailureBounces) {
  FakeTransport transport({Outcome::permanent});
  QueueRunner runner(*store_, transport, clock_, config_);
  runner.start();
  const auto deliveries = commit({"../evil@example.test"});
  runner.enqueue(deliveries);

  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::bounced, 1));
  const auto ledger = store_->ledger(deliveries[0].message_id);
  EXPECT_EQ(ledger.back().type, "bounced");
  EXPECT_EQ(ledger.back().fields.at(0).first, "reply");
  EXPECT_TRUE(store_->pending_deliveries().empty());
}

TEST_F(QueueRunnerTest, DeliveryExpiresWhenTheRetryBudgetIsSpent) {
  FakeTransport transport({Outcome::temporary});
  QueueRunner runner(*store_, transport, clock_, config_);
  runner.start();
  const auto deliveries = commit({"alice@example.test"});
  runner.enqueue(deliveries);

  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 1));
  clock_.advance(minutes(11));
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 2));
  EXPECT_EQ(stored(deliveries[0]).next_attempt, kT0 + minutes(15)) << "held at the deadline";
  clock_.advance(minutes(4));
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::expired, 3));

  const auto ledger = store_->ledger(deliveries[0].message_id);
  EXPECT_EQ(event_types(deliveries[0].message_id),
            (std::vector<std::string>{"received", "deferred", "deferred", "expired"}));
  EXPECT_EQ(ledger.back().fields.at(0),
            std::make_pair(std::string("reason"), std::string("retry budget spent (max_age 15m)")));
  EXPECT_TRUE(store_->pending_deliveries().empty());
  EXPECT_EQ(transport.calls(), 3u);
}

TEST_F(QueueRunnerTest, RestartResumesPendingDeliveries) {
  std::vector<Delivery> deliveries;
  {
    FakeTransport failing({Outcome::temporary});
    QueueRunner runner(*store_, failing, clock_, config_);
    runner.start();
    deliveries = commit({"alice@example.test", "bob@example.test"});
    runner.enqueue(deliveries);
    ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 1));
    ASSERT_TRUE(wait_for_state(deliveries[1], DeliveryState::deferred, 1));
  }
  // A new daemon: the store is reopened and nothing is handed over by enqueue().
  store_.reset();
  store_ = open_rocksdb_store(temp_.path() / "store", StoreMode::read_write);
  const auto third = commit({"carol@example.test"});  // committed, never enqueued

  FakeTransport working({Outcome::delivered});
  QueueRunner runner(*store_, working, clock_, config_);
  runner.start();
  ASSERT_TRUE(wait_for_state(third[0], DeliveryState::delivered, 1));
  EXPECT_EQ(working.calls(), 1u) << "deferred deliveries wait for their time";

  clock_.advance(minutes(11));
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::delivered, 2));
  ASSERT_TRUE(wait_for_state(deliveries[1], DeliveryState::delivered, 2));
  EXPECT_TRUE(store_->pending_deliveries().empty());
}

TEST_F(QueueRunnerTest, OneDeliveryIsNeverAttemptedTwiceAtOnce) {
  FakeTransport transport({Outcome::delivered});
  transport.hold();
  QueueRunner runner(*store_, transport, clock_, config_);
  const auto deliveries = commit({"alice@example.test"});
  runner.enqueue(deliveries);  // before start(), which loads it from the store as well
  runner.start();
  runner.enqueue(deliveries);
  ASSERT_TRUE(transport.wait_for_calls(1));
  runner.enqueue(deliveries);  // while it is being attempted
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  transport.release();
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::delivered, 1));
  runner.enqueue(deliveries);  // after it was recorded
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(transport.calls(), 1u);
  EXPECT_EQ(transport.max_running(), 1);
}

TEST_F(QueueRunnerTest, DeliveriesOfManyMessagesRunConcurrently) {
  FakeTransport transport({Outcome::delivered});
  QueueRunner runner(*store_, transport, clock_, config_);
  runner.start();
  std::vector<Delivery> all;
  for (int i = 0; i < 20; ++i) {
    const auto deliveries = commit({"a@example.test", "b@example.test", "c@example.test"});
    runner.enqueue(deliveries);
    all.insert(all.end(), deliveries.begin(), deliveries.end());
  }
  for (const auto& d : all) ASSERT_TRUE(wait_for_state(d, DeliveryState::delivered, 1));
  EXPECT_TRUE(store_->pending_deliveries().empty());
  for (const auto& d : all) EXPECT_FALSE(store_->content(d.message_id).has_value());
}

// Writers into one Maildir contend for its directory in the kernel; other mailboxes go on.
TEST_F(QueueRunnerTest, ConcurrentDeliveriesIntoOneMailboxStayWithinTheLimit) {
  FakeTransport transport({Outcome::delivered});
  transport.hold();
  config_.local_delivery_workers = 8;
  config_.max_deliveries_per_mailbox = 2;
  QueueRunner runner(*store_, transport, clock_, config_);
  runner.start();
  std::vector<Delivery> all;
  for (int i = 0; i < 10; ++i) {
    for (const char* mailbox : {"alice@example.test", "bob@example.test"}) {
      const auto deliveries = commit({mailbox});
      runner.enqueue(deliveries);
      all.insert(all.end(), deliveries.begin(), deliveries.end());
    }
  }
  ASSERT_TRUE(transport.wait_for_calls(4));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(transport.calls(), 4u);  // two per mailbox, although eight workers are free
  EXPECT_EQ(transport.max_running(), 4);
  transport.release();
  for (const auto& d : all) ASSERT_TRUE(wait_for_state(d, DeliveryState::delivered, 1));
  EXPECT_EQ(transport.max_running_in_one_mailbox(), 2);
}

TEST_F(QueueRunnerTest, StopLetsTheAttemptInProgressFinishAndRecord) {
  FakeTransport transport({Outcome::delivered});
  transport.hold();
  QueueRunner runner(*store_, transport, clock_, config_);
  runner.start();
  const auto deliveries = commit({"alice@example.test"});
  runner.enqueue(deliveries);
  ASSERT_TRUE(transport.wait_for_calls(1));

  std::thread stopper([&] { runner.stop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  transport.release();
  stopper.join();
  EXPECT_EQ(stored(deliveries[0]).state, DeliveryState::delivered);
}

TEST_F(QueueRunnerTest, StoreErrorWhileRecordingKeepsTheDeliveryAndRetries) {
  FailingUpdates flaky(*store_, 1);
  FakeTransport transport({Outcome::delivered});
  QueueRunner runner(flaky, transport, clock_, config_);
  runner.start();
  const auto deliveries = commit({"alice@example.test"});
  runner.enqueue(deliveries);

  ASSERT_TRUE(transport.wait_for_calls(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(stored(deliveries[0]).state, DeliveryState::queued) << "nothing was recorded";
  EXPECT_EQ(store_->pending_deliveries().size(), 1u);

  clock_.advance(minutes(11));  // the first backoff step and its most jitter
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::delivered, 1));
  EXPECT_EQ(transport.calls(), 2u);
}

}  // namespace
}  // namespace herald
