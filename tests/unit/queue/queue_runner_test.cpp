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
  std::vector<AttemptResult> attempt_together(const MessageRecord& message,
                                              const std::vector<Delivery>& deliveries,
                                              std::string_view content) override {
    {
      std::lock_guard lock(mutex_);
      group_sizes_.push_back(deliveries.size());
    }
    return Transport::attempt_together(message, deliveries, content);
  }
  std::vector<size_t> group_sizes() {
    std::lock_guard lock(mutex_);
    return group_sizes_;
  }
  std::vector<std::string> messages_called() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const Delivery& d : calls_) out.push_back(d.message_id);
    return out;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Outcome> script_;
  std::vector<Delivery> calls_;
  std::vector<size_t> group_sizes_;
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
  void update_delivery(const Delivery& d, const std::vector<LedgerEvent>& e) override {
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
  void apply(const StoreWrite& w) override { inner_.apply(w); }
  std::vector<DueDelivery> due_deliveries(const DuePosition& after, TimePoint until,
                                          size_t limit) override {
    return inner_.due_deliveries(after, until, limit);
  }
  std::vector<Delivery> unfinished_deliveries(const std::optional<DeliveryKey>& after,
                                              size_t limit) override {
    return inner_.unfinished_deliveries(after, limit);
  }
  std::vector<DamagedRecord> damaged_records(size_t limit) override {
    return inner_.damaged_records(limit);
  }
  size_t remove_finished(TimePoint before, size_t limit) override {
    return inner_.remove_finished(before, limit);
  }
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
  // `shape` gives the envelope's sender and authentication and the QoS; its id, arrival and
  // size are set here.
  std::vector<Delivery> commit(std::vector<std::string> mailboxes, MessageRecord shape = {},
                               NotifyRequest notify = {}, std::string transport = "local") {
    MessageRecord m = std::move(shape);
    m.id = new_message_id(clock_.now());
    m.received_at = clock_.now();
    if (m.envelope.mail_from.empty()) m.envelope.mail_from = "sender@example.org";
    std::vector<Delivery> deliveries;
    for (const auto& mailbox : mailboxes) {
      Delivery d;
      d.message_id = m.id;
      d.index = static_cast<uint32_t>(deliveries.size());
      d.recipient = mailbox;
      d.mailbox = mailbox;
      d.transport = transport;
      d.next_attempt = m.received_at;
      d.notify = notify;
      deliveries.push_back(d);
    }
    LedgerEvent received;
    received.at = clock_.now();
    received.type = "received";
    store_->commit_message(m, "Subject: test\r\n\r\nhello\r\n", deliveries, {received});
    return deliveries;
  }

  Delivery stored(const Delivery& d) { return store_->deliveries(d.message_id).at(d.index); }

  // What a session does after its commit.
  void hand_over(QueueRunner& runner, const std::vector<Delivery>& deliveries) {
    runner.enqueue(*store_->message(deliveries.at(0).message_id), deliveries);
  }

  // DSNs to the senders of these tests land in a local mailbox of the same address.
  QueueRunnerSettings settings() {
    return QueueRunnerSettings{config_, destinations_, "mx.example.test",
                               [](std::string_view address) {
                                 return std::vector<NoticeTarget>{{"local", std::string(address)}};
                               }};
  }

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

  // A message from a user who logged in: one whom DSNs may reach.
  static MessageRecord from_authenticated_sender() {
    MessageRecord m;
    m.envelope.mail_from = "sender@example.org";
    m.envelope.authenticated_as = "sender@example.org";
    return m;
  }

  const LedgerEvent* find_event(const std::string& message_id, const std::string& type) {
    ledger_cache_ = store_->ledger(message_id);
    for (const auto& e : ledger_cache_) {
      if (e.type == type) return &e;
    }
    return nullptr;
  }

  static std::string field_of(const LedgerEvent& e, const std::string& key) {
    for (const auto& [k, v] : e.fields) {
      if (k == key) return v;
    }
    return "";
  }

  // The deliveries of the DSN that `dsn-sent` on the message names.
  std::vector<Delivery> dsn_deliveries(const std::string& message_id) {
    const LedgerEvent* sent = find_event(message_id, "dsn-sent");
    if (sent == nullptr) return {};
    return store_->deliveries(field_of(*sent, "dsn_id"));
  }

  TempDir temp_;
  std::vector<LedgerEvent> ledger_cache_;
  ManualClock clock_;
  std::unique_ptr<Store> store_;
  QueueConfig config_;
  std::vector<DestinationConfig> destinations_;
};

TEST_F(QueueRunnerTest, DeliveredAttemptIsRecordedWithItsMailbox) {
  FakeTransport transport({Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"alice@example.test"});
  hand_over(runner, deliveries);

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
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"alice@example.test"});
  hand_over(runner, deliveries);

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
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"../evil@example.test"});
  hand_over(runner, deliveries);

  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::bounced, 1));
  const LedgerEvent* bounced = find_event(deliveries[0].message_id, "bounced");
  ASSERT_NE(bounced, nullptr);
  EXPECT_EQ(bounced->fields.at(0).first, "reply");
  EXPECT_TRUE(store_->pending_deliveries().empty());
}

// A budget bounds attempts: the one that would start after max_age is not made.
TEST_F(QueueRunnerTest, DeliveryExpiresWhenTheRetryBudgetIsSpent) {
  FakeTransport transport({Outcome::temporary});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"alice@example.test"});
  hand_over(runner, deliveries);

  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 1));
  clock_.advance(minutes(11));
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::expired, 2));

  const auto ledger = store_->ledger(deliveries[0].message_id);
  EXPECT_EQ(event_types(deliveries[0].message_id),
            (std::vector<std::string>{"received", "deferred", "expired", "dsn-withheld"}));
  EXPECT_EQ(ledger[2].fields.at(0),
            std::make_pair(std::string("reason"), std::string("retry budget spent (max_age 15m)")));
  EXPECT_TRUE(store_->pending_deliveries().empty());
  EXPECT_EQ(transport.calls(), 2u);
}

TEST_F(QueueRunnerTest, RestartResumesPendingDeliveries) {
  std::vector<Delivery> deliveries;
  {
    FakeTransport failing({Outcome::temporary});
    QueueRunner runner(*store_, failing, nullptr, clock_, settings());
    runner.start();
    deliveries = commit({"alice@example.test", "bob@example.test"});
    hand_over(runner, deliveries);
    ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 1));
    ASSERT_TRUE(wait_for_state(deliveries[1], DeliveryState::deferred, 1));
  }
  // A new daemon: the store is reopened and nothing is handed over by enqueue().
  store_.reset();
  store_ = open_rocksdb_store(temp_.path() / "store", StoreMode::read_write);
  const auto third = commit({"carol@example.test"});  // committed, never enqueued

  FakeTransport working({Outcome::delivered});
  QueueRunner runner(*store_, working, nullptr, clock_, settings());
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
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  const auto deliveries = commit({"alice@example.test"});
  hand_over(runner, deliveries);  // before start(), which loads it from the store as well
  runner.start();
  hand_over(runner, deliveries);
  ASSERT_TRUE(transport.wait_for_calls(1));
  hand_over(runner, deliveries);  // while it is being attempted
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  transport.release();
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::delivered, 1));
  hand_over(runner, deliveries);  // after it was recorded
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(transport.calls(), 1u);
  EXPECT_EQ(transport.max_running(), 1);
}

TEST_F(QueueRunnerTest, DeliveriesOfManyMessagesRunConcurrently) {
  FakeTransport transport({Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  std::vector<Delivery> all;
  for (int i = 0; i < 20; ++i) {
    const auto deliveries = commit({"a@example.test", "b@example.test", "c@example.test"});
    hand_over(runner, deliveries);
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
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  std::vector<Delivery> all;
  for (int i = 0; i < 10; ++i) {
    for (const char* mailbox : {"alice@example.test", "bob@example.test"}) {
      const auto deliveries = commit({mailbox});
      hand_over(runner, deliveries);
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
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"alice@example.test"});
  hand_over(runner, deliveries);
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
  QueueRunner runner(flaky, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"alice@example.test"});
  hand_over(runner, deliveries);

  ASSERT_TRUE(transport.wait_for_calls(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(stored(deliveries[0]).state, DeliveryState::queued) << "nothing was recorded";
  EXPECT_EQ(store_->pending_deliveries().size(), 1u);

  clock_.advance(minutes(11));  // the first backoff step and its most jitter
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::delivered, 1));
  EXPECT_EQ(transport.calls(), 2u);
}

// --- scheduling --------------------------------------------------------------------------

// DESIGN.md section 3: with one slot, the urgent message goes at the next free one, ahead of
// a backlog that came first.
TEST_F(QueueRunnerTest, HigherPriorityGoesFirstThroughABusyDestination) {
  FakeTransport transport({Outcome::delivered});
  transport.hold();
  config_.local_delivery_workers = 1;
  config_.max_deliveries_per_mailbox = 1;
  config_.fair_share_every = 0;
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  MessageRecord low;
  low.qos.priority = -9;
  std::vector<Delivery> all;
  for (int i = 0; i < 5; ++i) {
    const auto d = commit({"alice@example.test"}, low);
    hand_over(runner, d);
    all.push_back(d[0]);
  }
  ASSERT_TRUE(transport.wait_for_calls(1));  // the first low one is under way
  MessageRecord urgent;
  urgent.qos.priority = 9;
  urgent.envelope.mail_from = "urgent@example.org";
  const auto u = commit({"alice@example.test"}, urgent);
  hand_over(runner, u);
  transport.release();
  ASSERT_TRUE(wait_for_state(u[0], DeliveryState::delivered, 1));
  for (const auto& d : all) ASSERT_TRUE(wait_for_state(d, DeliveryState::delivered, 1));
  // Only the one in flight went before the urgent message.
  const auto called = transport.messages_called();
  ASSERT_EQ(called.size(), 6u);
  EXPECT_EQ(called[0], all[0].message_id);
  EXPECT_EQ(called[1], u[0].message_id);
}

// A remote server that hangs does not hold up local delivery: each transport has workers.
TEST_F(QueueRunnerTest, ASlowRemoteTransportDoesNotDelayLocalDelivery) {
  FakeTransport local({Outcome::delivered});
  FakeTransport remote({Outcome::delivered});
  remote.hold();
  config_.remote_delivery_workers = 2;
  QueueRunner runner(*store_, local, &remote, clock_, settings());
  runner.start();
  const auto out = commit({"far@remote.example"}, {}, {}, "smtp");
  hand_over(runner, out);
  ASSERT_TRUE(remote.wait_for_calls(1));
  const auto in = commit({"alice@example.test"});
  hand_over(runner, in);
  ASSERT_TRUE(wait_for_state(in[0], DeliveryState::delivered, 1));
  EXPECT_EQ(stored(out[0]).state, DeliveryState::queued);
  remote.release();
  ASSERT_TRUE(wait_for_state(out[0], DeliveryState::delivered, 1));
}

// One transaction for the recipients of a message in one domain: the transport is handed
// them together, and each still gets its own outcome.
TEST_F(QueueRunnerTest, RecipientsOfAMessageInOneDomainAreAttemptedTogether) {
  FakeTransport local({Outcome::delivered});
  // Calls: x, then a and b together, then c.
  FakeTransport remote(
      {Outcome::delivered, Outcome::delivered, Outcome::permanent, Outcome::delivered});
  remote.hold();
  config_.remote_delivery_workers = 1;
  QueueRunner runner(*store_, local, &remote, clock_, settings());
  runner.start();
  const auto first = commit({"x@remote.example"}, {}, {}, "smtp");
  hand_over(runner, first);
  ASSERT_TRUE(remote.wait_for_calls(1));  // the one worker is busy: the rest gather
  const auto group =
      commit({"a@remote.example", "b@remote.example", "c@other.example"}, {}, {}, "smtp");
  hand_over(runner, group);
  remote.release();
  ASSERT_TRUE(wait_for_state(group[0], DeliveryState::delivered, 1));
  ASSERT_TRUE(wait_for_state(group[1], DeliveryState::bounced, 1));
  ASSERT_TRUE(wait_for_state(group[2], DeliveryState::delivered, 1));
  EXPECT_EQ(remote.group_sizes(), std::vector<size_t>{2}) << "a and b together, c alone";
}

TEST_F(QueueRunnerTest, ADeliveryOfAnUnknownTransportStaysPending) {
  FakeTransport local({Outcome::delivered});
  QueueRunner runner(*store_, local, nullptr, clock_, settings());
  runner.start();
  const auto out = commit({"far@remote.example"}, {}, {}, "smtp");
  hand_over(runner, out);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(local.calls(), 0u);
  EXPECT_EQ(store_->pending_deliveries().size(), 1u);
}

// RFC 2852 4.1 mode R: a message still undelivered at its deliver-by time is returned.
TEST_F(QueueRunnerTest, DeliverByInModeRExpiresWithA547Dsn) {
  FakeTransport transport({Outcome::temporary, Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  MessageRecord m = from_authenticated_sender();
  m.qos.deliver_by = kT0 + minutes(5);
  m.qos.deliver_by_mode = DeliverByMode::return_if_late;
  const auto deliveries = commit({"alice@example.test"}, m);
  hand_over(runner, deliveries);
  // The retry (10 minutes on) would fall after the deadline: it expires at once.
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::expired, 1));
  const LedgerEvent* sent = find_event(deliveries[0].message_id, "dsn-sent");
  ASSERT_NE(sent, nullptr);
  EXPECT_EQ(field_of(*sent, "action"), "failed");
  EXPECT_EQ(field_of(*sent, "status"), "5.4.7");
  const auto dsn = dsn_deliveries(deliveries[0].message_id);
  ASSERT_EQ(dsn.size(), 1u);
  EXPECT_EQ(dsn[0].mailbox, "sender@example.org");
  ASSERT_TRUE(wait_for_state(dsn[0], DeliveryState::delivered, 1));
  const std::string content = transport.content(1);
  EXPECT_NE(content.find("multipart/report; report-type=delivery-status"), std::string::npos);
  EXPECT_NE(content.find("Status: 5.4.7"), std::string::npos) << content;
  const auto dsn_record = store_->message(dsn[0].message_id);
  EXPECT_EQ(dsn_record->envelope.mail_from, "") << "RFC 5321 4.5.5: DSNs have the null sender";
}

TEST_F(QueueRunnerTest, ADeliveryWhoseHardStopPassedWhileWaitingExpiresWithoutAnAttempt) {
  FakeTransport transport({Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  MessageRecord m;
  m.qos.deliver_by = kT0 + minutes(1);
  m.qos.deliver_by_mode = DeliverByMode::return_if_late;
  auto deliveries = commit({"alice@example.test"}, m);
  clock_.advance(minutes(2));
  runner.start();  // resumed after the deadline, as after a long outage
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::expired, 0));
  EXPECT_EQ(transport.calls(), 0u);
}

// --- notifications -----------------------------------------------------------------------

TEST_F(QueueRunnerTest, ABounceSendsOneDsnToAnAuthenticatedSender) {
  FakeTransport transport({Outcome::permanent, Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"bob@example.test"}, from_authenticated_sender());
  hand_over(runner, deliveries);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::bounced, 1));
  EXPECT_EQ(event_types(deliveries[0].message_id),
            (std::vector<std::string>{"received", "bounced", "dsn-sent"}));
  const auto dsn = dsn_deliveries(deliveries[0].message_id);
  ASSERT_EQ(dsn.size(), 1u);
  ASSERT_TRUE(wait_for_state(dsn[0], DeliveryState::delivered, 1));
  const std::string content = transport.content(1);
  EXPECT_NE(content.find("Action: failed"), std::string::npos) << content;
  EXPECT_NE(content.find("Status: 5.1.3"), std::string::npos) << content;
  EXPECT_NE(content.find("Final-Recipient: rfc822;bob@example.test"), std::string::npos);
  // A notification about the notification is never due, whatever happens to it.
  EXPECT_EQ(event_types(dsn[0].message_id),
            (std::vector<std::string>{"received", "queued", "delivered"}));
}

// DESIGN.md promise 3: no backscatter to senders who may be forged.
TEST_F(QueueRunnerTest, ABounceOfAnUnauthenticatedSenderIsRecordedNotMailed) {
  FakeTransport transport({Outcome::permanent});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"bob@example.test"});
  hand_over(runner, deliveries);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::bounced, 1));
  const LedgerEvent* withheld = find_event(deliveries[0].message_id, "dsn-withheld");
  ASSERT_NE(withheld, nullptr);
  EXPECT_EQ(field_of(*withheld, "reason"),
            "sender neither authenticated nor verified (no backscatter)");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(transport.calls(), 1u);
}

// ... but a sender whose domain vouched for the message (SPF or aligned DKIM) is not forged.
TEST_F(QueueRunnerTest, ABounceOfAVerifiedSenderIsMailed) {
  FakeTransport transport({Outcome::permanent, Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  MessageRecord verified;
  verified.envelope.mail_from = "sender@example.org";
  verified.envelope.sender_verified = true;
  const auto deliveries = commit({"bob@example.test"}, verified);
  hand_over(runner, deliveries);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::bounced, 1));
  EXPECT_EQ(find_event(deliveries[0].message_id, "dsn-withheld"), nullptr);
  EXPECT_NE(find_event(deliveries[0].message_id, "dsn-sent"), nullptr);
}

TEST_F(QueueRunnerTest, NotifyNeverMeansNoDsnAndNoNote) {
  FakeTransport transport({Outcome::permanent});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  NotifyRequest never;
  never.given = true;
  const auto deliveries = commit({"bob@example.test"}, from_authenticated_sender(), never);
  hand_over(runner, deliveries);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::bounced, 1));
  EXPECT_EQ(event_types(deliveries[0].message_id),
            (std::vector<std::string>{"received", "bounced"}));
}

TEST_F(QueueRunnerTest, NotifySuccessGetsADeliveredDsn) {
  FakeTransport transport({Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  NotifyRequest success;
  success.given = true;
  success.success = true;
  const auto deliveries = commit({"bob@example.test"}, from_authenticated_sender(), success);
  hand_over(runner, deliveries);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::delivered, 1));
  const LedgerEvent* sent = find_event(deliveries[0].message_id, "dsn-sent");
  ASSERT_NE(sent, nullptr);
  EXPECT_EQ(field_of(*sent, "action"), "delivered");
}

// RFC 3464 "delayed": once the delay warning time has passed, once only.
TEST_F(QueueRunnerTest, ALongDelaySendsOneDelayDsn) {
  FakeTransport transport({Outcome::temporary});
  config_.retry_backoff = {minutes(10)};
  config_.max_age = std::chrono::hours(5);
  config_.delay_warning = minutes(15);
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"bob@example.test"}, from_authenticated_sender());
  hand_over(runner, deliveries);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 1));
  EXPECT_EQ(find_event(deliveries[0].message_id, "dsn-sent"), nullptr);
  clock_.advance(minutes(11));
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 2));
  EXPECT_EQ(find_event(deliveries[0].message_id, "dsn-sent"), nullptr) << "11 minutes: too soon";
  clock_.advance(minutes(11));
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 3));
  const LedgerEvent* sent = find_event(deliveries[0].message_id, "dsn-sent");
  ASSERT_NE(sent, nullptr);
  EXPECT_EQ(field_of(*sent, "action"), "delayed");
  EXPECT_TRUE(stored(deliveries[0]).delay_notified);
  clock_.advance(minutes(11));
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 4));
  size_t sent_count = 0;
  for (const auto& e : store_->ledger(deliveries[0].message_id)) sent_count += e.type == "dsn-sent";
  EXPECT_EQ(sent_count, 1u);
}

// RFC 2852 4 mode N: the sender hears at the deliver-by time, and delivery goes on.
TEST_F(QueueRunnerTest, DeliverByInModeNRetriesAtTheDeadlineAndNotifiesADelay) {
  FakeTransport transport({Outcome::temporary, Outcome::temporary, Outcome::delivered});
  config_.max_age = std::chrono::hours(5);
  config_.delay_warning = std::chrono::seconds(0);
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  MessageRecord m = from_authenticated_sender();
  m.qos.deliver_by = kT0 + minutes(3);
  m.qos.deliver_by_mode = DeliverByMode::notify_if_late;
  const auto deliveries = commit({"bob@example.test"}, m);
  hand_over(runner, deliveries);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 1));
  EXPECT_EQ(stored(deliveries[0]).next_attempt, kT0 + minutes(3)) << "the retry keeps the deadline";
  clock_.advance(minutes(3));
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 2));
  const LedgerEvent* sent = find_event(deliveries[0].message_id, "dsn-sent");
  ASSERT_NE(sent, nullptr);
  EXPECT_EQ(field_of(*sent, "action"), "delayed");
}

// --- operator actions --------------------------------------------------------------------

TEST_F(QueueRunnerTest, HoldKeepsADeliveryFromItsRetryUntilReleased) {
  FakeTransport transport({Outcome::temporary, Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"alice@example.test"});
  hand_over(runner, deliveries);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 1));
  EXPECT_EQ(runner.hold(deliveries[0].message_id), 1u);
  EXPECT_TRUE(stored(deliveries[0]).held);
  clock_.advance(minutes(11));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(transport.calls(), 1u) << "a held delivery was attempted";
  EXPECT_EQ(runner.release(deliveries[0].message_id), 1u);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::delivered, 2));
  EXPECT_EQ(event_types(deliveries[0].message_id),
            (std::vector<std::string>{"received", "deferred", "held", "released", "delivered"}));
}

TEST_F(QueueRunnerTest, AHoldSurvivesARestart) {
  {
    FakeTransport transport({Outcome::temporary});
    QueueRunner runner(*store_, transport, nullptr, clock_, settings());
    runner.start();
    const auto deliveries = commit({"alice@example.test"});
    hand_over(runner, deliveries);
    ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 1));
    ASSERT_EQ(runner.hold(""), 1u);
  }
  FakeTransport transport({Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  clock_.advance(minutes(11));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(transport.calls(), 0u);
  EXPECT_EQ(runner.release(""), 1u);
  ASSERT_TRUE(transport.wait_for_calls(1));
}

TEST_F(QueueRunnerTest, RetryMakesAWaitingDeliveryDueNow) {
  FakeTransport transport({Outcome::temporary, Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"alice@example.test"});
  hand_over(runner, deliveries);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 1));
  EXPECT_EQ(runner.retry(deliveries[0].message_id), 1u);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::delivered, 2));
}

TEST_F(QueueRunnerTest, BounceReturnsEveryPendingDeliveryWithADsn) {
  FakeTransport transport({Outcome::temporary, Outcome::temporary, Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries =
      commit({"alice@example.test", "bob@example.test"}, from_authenticated_sender());
  hand_over(runner, deliveries);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 1));
  ASSERT_TRUE(wait_for_state(deliveries[1], DeliveryState::deferred, 1));
  EXPECT_EQ(runner.bounce(deliveries[0].message_id), 2u);
  for (const auto& d : deliveries) {
    EXPECT_EQ(stored(d).state, DeliveryState::bounced);
    EXPECT_EQ(stored(d).last_reply, "5.0.0 returned by the postmaster");
  }
  size_t dsns = 0;
  for (const auto& e : store_->ledger(deliveries[0].message_id)) dsns += e.type == "dsn-sent";
  EXPECT_EQ(dsns, 2u);
  const auto dsn = dsn_deliveries(deliveries[0].message_id);
  ASSERT_EQ(dsn.size(), 1u);
  ASSERT_TRUE(wait_for_state(dsn[0], DeliveryState::delivered, 1));
}

TEST_F(QueueRunnerTest, OperatorActionsOnAnUnknownMessageSayNoSuchMessage) {
  FakeTransport transport({Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const std::string unknown = new_message_id(clock_.now());
  EXPECT_EQ(runner.hold(unknown), std::nullopt);
  EXPECT_EQ(runner.release(unknown), std::nullopt);
  EXPECT_EQ(runner.retry(unknown), std::nullopt);
  EXPECT_EQ(runner.bounce(unknown), std::nullopt);
  const auto deliveries = commit({"alice@example.test"});
  hand_over(runner, deliveries);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::delivered, 1));
  EXPECT_EQ(runner.bounce(deliveries[0].message_id), 0u) << "a delivered message stays delivered";
}

}  // namespace
}  // namespace herald
