// The QueueRunner's loop and public calls; its parts are in runner_core.h.
#include "queue/queue_runner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <random>
#include <stdexcept>

#include "queue/queue_policy.h"
#include "queue/runner_core.h"

namespace herald {
namespace {

// The loop waits for the schedule's next wake-up on the real clock, but re-reads the
// injected Clock at least this often: a test's ManualClock moves without waking anyone.
constexpr auto kMaxWait = std::chrono::milliseconds(250);

// How often finished messages past [queue] retain are looked for, and how many go per look.
constexpr auto kSweepEvery = std::chrono::minutes(1);
constexpr size_t kSweepSlice = 1000;
constexpr int kSweepSlicesPerLook = 10;

// After stop(), how long outcomes the store keeps refusing are tried again before they
// are given up (their deliveries stay pending in the store).
constexpr auto kStopGiveUp = std::chrono::seconds(10);

}  // namespace

QueueRunner::Impl::Impl(Store& store, Transport& local, AsyncTransport* remote, const Clock& clock,
                        QueueRunnerSettings settings)
    : store(store),
      clock(clock),
      settings(std::move(settings)),
      budgets(retry_budgets(this->settings.queue, this->settings.destinations)) {
  const QueueConfig& q = this->settings.queue;
  local_pool = std::make_unique<BlockingTransportPool>(local, q.local_delivery_workers);
  lanes.push_back(std::make_unique<Lane>("local", *local_pool, local_scheduler_config(q),
                                         std::max<size_t>(q.local_delivery_workers, 1), 0,
                                         /*claims=*/false, /*pauses_on_low_storage=*/true));
  if (remote != nullptr) {
    lanes.push_back(std::make_unique<Lane>("smtp", *remote,
                                           remote_scheduler_config(q, this->settings.destinations),
                                           std::max<size_t>(q.remote_delivery_workers, 1),
                                           q.reserved_attempts_for_urgent, /*claims=*/true,
                                           /*pauses_on_low_storage=*/false));
  }
}

void QueueRunner::Impl::run() {
  std::optional<std::chrono::steady_clock::time_point> give_up_at;
  for (;;) {
    wait_for_work();
    drain_inbox();
    const bool stopping_now = [&] {
      std::lock_guard lock(inbox_mutex);
      return stopping;
    }();
    stop_noticed = stopping_now;
    if (!stopping_now) {
      for (auto& lane : lanes) refill(*lane);
    }
    StoreWrite claims;
    std::vector<runner::Attempt> attempts;
    const bool store_may_write = clock.now() >= next_write_try;
    if (!stopping_now && store_may_write) attempts = pick(claims);
    if (!unrecorded.empty() || !claims.empty()) {
      if (store_may_write && write_batch(std::move(claims))) {
        for (const runner::Attempt& attempt : attempts) start(attempt);
      } else {
        give_back(attempts);
      }
    } else {
      for (const runner::Attempt& attempt : attempts) start(attempt);
    }
    if (!stopping_now) sweep_finished();
    if (stopping_now) {
      if (done_stopping()) return;
      const bool only_unrecorded =
          std::all_of(lanes.begin(), lanes.end(), [](const auto& l) { return l->attempts == 0; });
      if (only_unrecorded) {
        if (!give_up_at) give_up_at = std::chrono::steady_clock::now() + kStopGiveUp;
        if (std::chrono::steady_clock::now() >= *give_up_at) {
          spdlog::error(
              "queue: stopping with {} outcomes the store did not take; their deliveries stay "
              "pending and are attempted again after the restart",
              unrecorded.size());
          return;
        }
      }
    }
  }
}

bool QueueRunner::Impl::done_stopping() const {
  if (!unrecorded.empty()) return false;
  return std::all_of(lanes.begin(), lanes.end(), [](const auto& l) { return l->attempts == 0; });
}

void QueueRunner::Impl::wait_for_work() {
  const TimePoint now = clock.now();
  Duration wait = kMaxWait;
  for (const auto& lane : lanes) {
    // next_wakeup() is TimePoint::min() when something may start already: no subtraction.
    if (const std::optional<TimePoint> next = lane->scheduler.next_wakeup()) {
      wait = *next <= now ? Duration::zero() : std::min<Duration>(wait, *next - now);
    }
  }
  // After a store failure, the next try; outcomes held back for their siblings wait for
  // those results, which wake the loop.
  if (!unrecorded.empty() && write_backoff.count() > 0) {
    wait =
        next_write_try <= now ? Duration::zero() : std::min<Duration>(wait, next_write_try - now);
  }
  wait = std::clamp<Duration>(wait, Duration::zero(), kMaxWait);
  std::unique_lock lock(inbox_mutex);
  inbox_wake.wait_for(lock, wait, [this] {
    return (stopping && !stop_noticed) || !intake.empty() || !finished.empty() || !tasks.empty();
  });
}

void QueueRunner::Impl::drain_inbox() {
  std::vector<runner::Intake> taken_in;
  std::vector<runner::Finished> results;
  std::vector<std::function<void()>> actions;
  {
    std::lock_guard lock(inbox_mutex);
    taken_in.swap(intake);
    results.swap(finished);
    actions.swap(tasks);
  }
  for (const runner::Intake& in : taken_in) {
    try {
      take_in(in);
    } catch (const StoreError& e) {
      // Committed, so the due index has it: a refill finds it.
      spdlog::warn("queue: new message {} left to the store's due index: {}", in.message->id,
                   e.what());
    }
  }
  for (runner::Finished& f : results) take_results(std::move(f));
  for (const auto& action : actions) action();
}

void QueueRunner::Impl::on_loop(const std::function<void()>& task) {
  if (!loop.joinable() || std::this_thread::get_id() == loop_id) {
    task();
    return;
  }
  std::promise<void> done;
  {
    std::lock_guard lock(inbox_mutex);
    tasks.push_back([&] {
      try {
        task();
        done.set_value();
      } catch (...) {
        done.set_exception(std::current_exception());
      }
    });
  }
  inbox_wake.notify_one();
  done.get_future().get();
}

void QueueRunner::Impl::sweep_finished() {
  if (settings.queue.retain.count() == 0) return;
  const TimePoint now = clock.now();
  if (now < next_sweep) return;
  next_sweep = now + kSweepEvery;
  try {
    size_t removed = 0;
    for (int i = 0; i < kSweepSlicesPerLook; ++i) {
      const size_t slice = store.remove_finished(now - settings.queue.retain, kSweepSlice);
      removed += slice;
      if (slice < kSweepSlice) break;
    }
    if (removed > 0) spdlog::info("queue: removed {} finished messages past retain", removed);
  } catch (const StoreError& e) {
    spdlog::warn("queue: removing finished messages failed: {}; tried again later", e.what());
  }
}

size_t QueueRunner::Impl::in_memory() const {
  size_t count = 0;
  for (const auto& lane : lanes) count += lane->entries.size();
  return count;
}

double QueueRunner::Impl::jitter() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(generator);
}

QueueRunner::QueueRunner(Store& store, Transport& local, AsyncTransport* remote, const Clock& clock,
                         QueueRunnerSettings settings)
    : impl_(std::make_unique<Impl>(store, local, remote, clock, std::move(settings))) {}

QueueRunner::~QueueRunner() {
  stop();
}

void QueueRunner::start() {
  if (impl_->loop.joinable()) throw std::logic_error("QueueRunner::start called twice");
  {
    std::lock_guard lock(impl_->inbox_mutex);
    impl_->stopping = false;
  }
  impl_->stop_noticed = false;
  impl_->loop = std::thread([this] { impl_->run(); });
  impl_->loop_id = impl_->loop.get_id();
}

void QueueRunner::enqueue(const MessageRecord& message, const std::vector<Delivery>& deliveries) {
  {
    std::lock_guard lock(impl_->inbox_mutex);
    impl_->intake.push_back({std::make_shared<const MessageRecord>(message), deliveries});
  }
  impl_->inbox_wake.notify_one();
}

void QueueRunner::stop() {
  {
    std::lock_guard lock(impl_->inbox_mutex);
    impl_->stopping = true;
  }
  impl_->inbox_wake.notify_one();
  if (impl_->loop.joinable()) impl_->loop.join();
}

size_t QueueRunner::deliveries_in_memory() {
  size_t count = 0;
  impl_->on_loop([&] { count = impl_->in_memory(); });
  return count;
}

std::optional<size_t> QueueRunner::retry(std::string_view message_id) {
  std::optional<size_t> count;
  impl_->on_loop([&] { count = impl_->retry(message_id); });
  return count;
}
std::optional<size_t> QueueRunner::hold(std::string_view message_id) {
  std::optional<size_t> count;
  impl_->on_loop([&] { count = impl_->hold(message_id); });
  return count;
}
std::optional<size_t> QueueRunner::release(std::string_view message_id) {
  std::optional<size_t> count;
  impl_->on_loop([&] { count = impl_->release(message_id); });
  return count;
}
std::optional<size_t> QueueRunner::bounce(std::string_view message_id) {
  std::optional<size_t> count;
  impl_->on_loop([&] { count = impl_->bounce(message_id); });
  return count;
}

}  // namespace herald
