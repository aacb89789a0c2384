#include "queue/queue_runner.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "queue/attempt_outcome.h"
#include "queue/retry_policy.h"

namespace herald {
namespace {

// Workers wait for the earliest delivery's time on the real clock, but re-read the injected
// Clock at least this often: a test's ManualClock moves without waking anyone.
constexpr auto kMaxWait = std::chrono::milliseconds(250);

std::string key_of(const Delivery& d) {
  return d.message_id + "/" + std::to_string(d.index);
}

// Where a delivery goes, for the per-destination concurrency limit: for local delivery the
// mailbox, whose Maildir directory concurrent writers would contend for.
std::string destination_of(const Delivery& d) {
  return d.transport + ":" + d.mailbox;
}

double draw_jitter() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(generator);
}

AttemptResult bounce(std::string reply) {
  AttemptResult r;
  r.outcome = AttemptResult::Outcome::permanent;
  r.reply = std::move(reply);
  return r;
}

}  // namespace

struct QueueRunner::Impl {
  Impl(Store& store, Transport& local, const Clock& clock, const QueueConfig& config)
      : store(store), local(local), clock(clock), config(config) {}

  // Takes a delivery into the schedule unless it is final, already scheduled or being
  // attempted: one delivery is never attempted twice at once. Caller holds `mutex`.
  void schedule_locked(const Delivery& d) {
    if (is_terminal(d.state)) return;
    if (d.transport != "local") {
      // It stays pending in the store for a herald that has this transport.
      spdlog::warn("queue: no transport '{}' for delivery {}; left pending", d.transport,
                   key_of(d));
      return;
    }
    const std::string key = key_of(d);
    if (in_flight.contains(key) || waiting.contains(key)) return;
    waiting.emplace(key, d);
    timetable.emplace(d.next_attempt, key);
    wake.notify_one();
  }

  // The earliest delivery whose time has come and whose destination has room, moved to
  // in_flight; nullopt if none. Due deliveries for a destination at its limit step aside
  // into its `held` line, from which finish_locked() hands them back one at a time, so no
  // delivery is looked at twice while it waits.
  std::optional<Delivery> take_due_locked() {
    const TimePoint now = clock.now();
    while (!timetable.empty() && timetable.begin()->first <= now) {
      const std::string key = timetable.begin()->second;
      timetable.erase(timetable.begin());
      const Delivery& d = waiting.at(key);
      const std::string destination = destination_of(d);
      uint32_t& busy = busy_destinations[destination];
      if (busy >= config.max_deliveries_per_mailbox) {
        held[destination].push_back(key);
        continue;
      }
      ++busy;
      auto node = waiting.extract(key);
      in_flight.insert(key);
      return std::move(node.mapped());
    }
    return std::nullopt;
  }

  // An attempt at `d` is over: its destination has room for the next held delivery.
  void finish_locked(const Delivery& d) {
    in_flight.erase(key_of(d));
    const std::string destination = destination_of(d);
    if (--busy_destinations[destination] == 0) busy_destinations.erase(destination);
    auto line = held.find(destination);
    if (line == held.end()) return;
    const std::string key = line->second.front();
    line->second.pop_front();
    if (line->second.empty()) held.erase(line);
    timetable.emplace(waiting.at(key).next_attempt, key);
    wake.notify_one();
  }

  void wait_locked(std::unique_lock<std::mutex>& lock) {
    if (timetable.empty()) {
      wake.wait(lock);
      return;
    }
    const auto until_due = timetable.begin()->first - clock.now();
    wake.wait_for(lock, std::min<Duration>(until_due, kMaxWait));
  }

  void work() {
    std::unique_lock lock(mutex);
    while (!stopping) {
      std::optional<Delivery> due = take_due_locked();
      if (!due) {
        wait_locked(lock);
        continue;
      }
      lock.unlock();
      std::optional<Delivery> again = attempt(*due);
      lock.lock();
      finish_locked(*due);
      if (again) schedule_locked(*again);
    }
  }

  // One attempt and its record. Returns the delivery to schedule again, or nullopt once it
  // has reached its final state.
  std::optional<Delivery> attempt(const Delivery& d) {
    try {
      const auto message = store.message(d.message_id);
      if (!message) {
        spdlog::error("queue: delivery {} belongs to no stored message; dropped from the queue",
                      key_of(d));
        return std::nullopt;
      }
      const auto content = store.content(d.message_id);
      // RFC 3463 X.3.0: the mail system lost what it had accepted; retrying cannot help.
      const AttemptResult result = content
                                       ? transport_attempt(*message, d, *content)
                                       : bounce("5.3.0 message content is missing from the store");
      const RecordedAttempt recorded =
          record_attempt(d, *message, result, clock.now(), config, draw_jitter());
      store.update_delivery(recorded.delivery, recorded.event);
      log_outcome(recorded);
      if (is_terminal(recorded.delivery.state)) return std::nullopt;
      return recorded.delivery;
    } catch (const StoreError& e) {
      // Still pending in the store, so nothing is lost; try the whole attempt again later
      // (the transport is idempotent, a repeat writes no second copy).
      spdlog::warn("queue: delivery {}: {}; will try again", key_of(d), e.what());
      Delivery later = d;
      later.next_attempt = clock.now() + retry_delay(1, config, draw_jitter());
      return later;
    }
  }

  AttemptResult transport_attempt(const MessageRecord& message, const Delivery& d,
                                  std::string_view content) {
    try {
      return local.attempt(message, d, content);
    } catch (const std::exception& e) {
      AttemptResult r;
      r.outcome = AttemptResult::Outcome::temporary;
      r.reply = std::string("4.3.0 local delivery failed: ") + e.what();
      return r;
    }
  }

  static void log_outcome(const RecordedAttempt& recorded) {
    const Delivery& d = recorded.delivery;
    spdlog::info("queue: {} msg={} rcpt={} attempt={} reply=\"{}\"", recorded.event.type,
                 d.message_id, d.mailbox, d.attempts, d.last_reply);
  }

  Store& store;
  Transport& local;
  const Clock& clock;
  const QueueConfig config;

  std::mutex mutex;
  std::condition_variable wake;
  std::set<std::pair<TimePoint, std::string>> timetable;  // (next attempt, key), earliest first
  std::unordered_map<std::string, Delivery> waiting;      // key -> delivery, in timetable or held
  std::unordered_map<std::string, std::deque<std::string>> held;  // destination -> due keys
  std::unordered_map<std::string, uint32_t> busy_destinations;    // destination -> attempts now
  std::unordered_set<std::string> in_flight;                      // keys being attempted now
  std::unordered_set<std::string> resumed;  // keys start() loaded from the store
  bool stopping = false;
  std::vector<std::thread> workers;
};

QueueRunner::QueueRunner(Store& store, Transport& local, const Clock& clock,
                         const QueueConfig& config)
    : impl_(std::make_unique<Impl>(store, local, clock, config)) {}

QueueRunner::~QueueRunner() {
  stop();
}

void QueueRunner::start() {
  if (!impl_->workers.empty()) throw std::logic_error("QueueRunner::start called twice");
  // Restart recovery: whatever the store holds as not final is attempted again, at its
  // recorded next_attempt time.
  const std::vector<Delivery> pending = impl_->store.pending_deliveries();
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = false;
    for (const Delivery& d : pending) {
      impl_->resumed.insert(key_of(d));
      impl_->schedule_locked(d);
    }
  }
  spdlog::info("queue: {} pending deliveries resumed", pending.size());
  const uint32_t workers = std::max<uint32_t>(impl_->config.local_delivery_workers, 1);
  for (uint32_t i = 0; i < workers; ++i) impl_->workers.emplace_back([this] { impl_->work(); });
}

void QueueRunner::enqueue(const std::vector<Delivery>& deliveries) {
  std::lock_guard lock(impl_->mutex);
  for (const Delivery& d : deliveries) {
    // A commit that finished before start() was loaded there; handed over again now, it
    // might already have been attempted and recorded.
    if (!impl_->resumed.contains(key_of(d))) impl_->schedule_locked(d);
  }
}

void QueueRunner::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  for (auto& worker : impl_->workers) worker.join();
  impl_->workers.clear();
}

}  // namespace herald
