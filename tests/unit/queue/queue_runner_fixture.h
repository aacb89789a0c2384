// The queue runner's test fixture: a real RocksDB store in a temporary directory, a manual
// clock, and a scripted transport. Shared by the runner's test files.
#pragma once

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

#include "queue/blocking_transport_pool.h"
#include "queue/queue_runner.h"
#include "support/temp_dir.h"
#include "util/message_id.h"

namespace herald {
namespace test_support {

namespace fs = std::filesystem;
using std::chrono::minutes;
using Outcome = AttemptResult::Outcome;

// Answers attempts from a script (the last answer repeats), records what it was asked, and
// can hold attempts until released.
class FakeTransport final : public Transport {
 public:
  explicit FakeTransport(std::vector<Outcome> script) : script_(std::move(script)) {}

  AttemptResult attempt(const MessageRecord&, const Delivery& delivery,
                        const MessageContent& content) override {
    std::unique_lock lock(mutex_);
    ++running_;
    max_running_ = std::max(max_running_, running_);
    int& in_mailbox = running_per_mailbox_[delivery.mailbox];
    ++in_mailbox;
    max_per_mailbox_ = std::max(max_per_mailbox_, in_mailbox);
    calls_.push_back(delivery);
    contents_.push_back(content.to_text());
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
                                              const MessageContent& content) override {
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

// A Store whose delivery writes (update_delivery and the batches of apply) fail a given
// number of times, as a full disk would.
class FailingUpdates final : public Store {
 public:
  FailingUpdates(Store& inner, int failures) : inner_(inner), failures_(failures) {}
  void commit_message(const MessageRecord& m, const ContentToCommit& c,
                      const std::vector<Delivery>& d, const std::vector<LedgerEvent>& e) override {
    inner_.commit_message(m, c, d, e);
  }
  void update_delivery(const Delivery& d, const std::vector<LedgerEvent>& e) override {
    fail_if_due();
    inner_.update_delivery(d, e);
  }
  void append_event(std::string_view id, const LedgerEvent& e) override {
    inner_.append_event(id, e);
  }
  void apply(const StoreWrite& write) override {
    fail_if_due();
    inner_.apply(write);
  }
  std::optional<MessageRecord> message(std::string_view id) override { return inner_.message(id); }
  std::optional<MessageContent> content(std::string_view id) override { return inner_.content(id); }
  void write_body_piece(std::string_view id, uint32_t index, std::string_view piece) override {
    inner_.write_body_piece(id, index, piece);
  }
  std::optional<std::string> body_piece(std::string_view id, uint32_t index) override {
    return inner_.body_piece(id, index);
  }
  void discard_body(std::string_view id, uint32_t pieces) override {
    inner_.discard_body(id, pieces);
  }
  std::vector<Delivery> deliveries(std::string_view id) override { return inner_.deliveries(id); }
  std::vector<LedgerEvent> ledger(std::string_view id) override { return inner_.ledger(id); }
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
  void for_each_message(const std::function<bool(const MessageRecord&)>& visit) override {
    inner_.for_each_message(visit);
  }
  void for_each_mqtt_session(const std::function<bool(const MqttSessionRecord&)>& visit) override {
    inner_.for_each_mqtt_session(visit);
  }
  std::vector<MqttInboundMark> mqtt_inbound(std::string_view client_id) override {
    return inner_.mqtt_inbound(client_id);
  }
  std::vector<RetainedMessage> retained(std::string_view prefix, std::string_view after,
                                        size_t limit) override {
    return inner_.retained(prefix, after, limit);
  }
  int writes_refused() const { return refused_; }

 private:
  void fail_if_due() {
    if (failures_-- > 0) {
      ++refused_;
      throw StoreError("store write failed: IO error: No space left on device");
    }
  }
  Store& inner_;
  std::atomic<int> failures_;
  std::atomic<int> refused_{0};
};

inline const TimePoint kT0 = from_unix_ms(1'700'000'000'000);

// The runner logs every outcome at info; the tests read outcomes from the store instead.
inline const bool kQuietLogs = [] {
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
      d.priority = m.qos.priority;
      d.notify = notify;
      deliveries.push_back(d);
    }
    LedgerEvent received;
    received.at = clock_.now();
    received.type = "received";
    store_->commit_message(m, "Subject: test\r\n\r\nhello\r\n", deliveries, {received});
    return deliveries;
  }

  // Commits `n` messages of one delivery each to `mailbox`, due now, without handing them
  // to any runner: what a restart finds in the store.
  std::vector<Delivery> commit_many(int n, const std::string& mailbox) {
    std::vector<Delivery> out;
    for (int i = 0; i < n; ++i) out.push_back(commit({mailbox}).at(0));
    return out;
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

}  // namespace test_support
}  // namespace herald
