// The inside of the QueueRunner (queue_runner.h), shared by the files that implement it:
// queue_runner.cpp (the loop and the public calls), runner_window.cpp (what the runner holds
// of the store's due index), runner_dispatch.cpp (starting attempts), runner_outcomes.cpp
// (recording outcomes and their DSNs) and runner_operator.cpp (QueueControl).
//
// One thread, the loop, owns everything below the inbox: the lanes, their windows and
// schedules, and every write of a delivery to the store. Other threads only put things in
// the inbox: sessions their committed deliveries, transports their results, operators their
// actions. So nothing here needs a lock but the inbox, and no io thread ever waits for the
// loop.
#pragma once

#include <algorithm>
#include <array>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "queue/attempt_outcome.h"
#include "queue/blocking_transport_pool.h"
#include "queue/delivery_budget.h"
#include "queue/delivery_notice.h"
#include "queue/queue_runner.h"
#include "queue/scheduler.h"
#include "queue/scheduling_facts.h"
#include "store/store.h"

namespace herald::runner {

// A delivery the runner holds: waiting in its lane's schedule, or busy (in an attempt, or
// its outcome being recorded).
struct Entry {
  Delivery delivery;  // as last written to the store
  std::shared_ptr<const MessageRecord> message;
  SchedulingFacts facts;
  bool busy = false;
  bool hold_requested = false;    // hold() came while it was busy
  bool bounce_requested = false;  // bounce() came while it was busy
};

// One transport, its schedule, and its window onto the store's due index: the deliveries of
// this transport of the highest priority and, within one, due soonest, at most [queue]
// active_limit of them, in memory; the rest only in the store, read in slices as room
// frees up.
struct Lane {
  Lane(std::string name, AsyncTransport& transport, SchedulerConfig config, size_t max_attempts,
       size_t reserved_for_urgent, bool claims, bool pauses_on_low_storage)
      : name(name),
        transport(transport),
        scheduler(std::move(config)),
        max_attempts(max_attempts),
        reserved_for_urgent(std::min(reserved_for_urgent, max_attempts - 1)),
        claims(claims),
        pauses_on_low_storage(pauses_on_low_storage) {
    for (uint8_t band = 0; band < DuePosition::kBands; ++band) {
      covered[band] = DuePosition::start_of(this->name, band);
    }
  }

  std::string name;  // the Delivery::transport it carries
  AsyncTransport& transport;
  Scheduler scheduler;
  size_t max_attempts;         // attempts in progress at once, all destinations (at least 1)
  size_t reserved_for_urgent;  // of those, the ones only priority > 0 may start
  // Attempts are claimed in the store before they start (state `attempting`, next_attempt
  // where a failure would put it), so a crash mid-attempt is visible and is not re-run at
  // once. Remote attempts are; local ones, short and idempotent, need not pay the write.
  bool claims;
  // Its attempts write files on this machine (Maildir delivery): none start while the disk
  // is short of space.
  bool pauses_on_low_storage;
  std::map<DeliveryKey, Entry> entries;  // waiting and busy
  std::set<DuePosition> waiting;         // the due positions of the waiting entries
  // The same entries in the order they leave a full window: lowest priority first, and of
  // those the one due last.
  std::set<std::pair<int, DuePosition>, std::greater<>> by_eviction;
  // Per priority band b: every due-index entry of this lane in band b at or before
  // covered[b] is in `entries` (or was written by the loop since and is known to it); those
  // after it are only in the store.
  std::array<DuePosition, DuePosition::kBands> covered;
  size_t attempts = 0;  // in progress
  // The due index may hold entries of this lane that the window has not read: at start, after
  // a read that filled the room, and when an entry was left to the store (not taken in,
  // evicted, or placed beyond the window). Otherwise a refill has nothing new to find until
  // time brings more into its lookahead, and reading the index at every round of the loop
  // (thousands a second under load) would be work for nothing.
  bool unread_in_store = true;
  TimePoint next_timed_refill = TimePoint::min();
};

// An attempt's results, handed back by the transport.
struct Finished {
  Lane* lane;
  std::vector<DeliveryKey> keys;  // the lead first
  std::vector<AttemptResult> results;
  std::shared_ptr<const MessageContent> content;
};

// Deliveries a session committed.
struct Intake {
  std::shared_ptr<const MessageRecord> message;
  std::vector<Delivery> deliveries;
};

// An outcome decided, not yet durable.
struct Outcome {
  Lane* lane;
  RecordedAttempt recorded;
  std::string remote_mta;
  std::shared_ptr<const MessageContent> content;  // null: read from the store if a DSN needs it
};

// A deferred or waiting delivery returned by the postmaster: bounced, "5.0.0 returned by the
// postmaster", with an event naming the attempt count (runner_outcomes.cpp).
void returned_by_postmaster(RecordedAttempt& recorded);

// What the loop starts once its claims are durable.
struct Attempt {
  Lane* lane;
  std::vector<DeliveryKey> keys;
};

}  // namespace herald::runner

namespace herald {

struct QueueRunner::Impl {
  using Entry = runner::Entry;
  using Lane = runner::Lane;

  Impl(Store& store, Transport& local, AsyncTransport* remote, const Clock& clock,
       QueueRunnerSettings settings);

  // --- the loop (queue_runner.cpp) ---
  void run();
  void wait_for_work();
  void drain_inbox();
  bool done_stopping() const;
  // Runs `task` on the loop and waits for it; inline when the loop is not running.
  void on_loop(const std::function<void()>& task);

  // --- the window (runner_window.cpp) ---
  Lane* lane_for(const std::string& transport);
  void take_in(const runner::Intake& intake);
  // `delivery`, just written by the loop, waits in memory if the window covers its due
  // position, else only in the store. Terminal and held deliveries are not taken.
  void place(Lane& lane, std::shared_ptr<const MessageRecord> message, const Delivery& delivery);
  bool window_takes(const Lane& lane, const MessageRecord& message, const Delivery& d) const;
  void admit(Lane& lane, std::shared_ptr<const MessageRecord> message, const Delivery& delivery);
  void make_busy(Lane& lane, const DeliveryKey& key);
  void wait_in_window(Lane& lane, const Entry& entry);
  void leave_window(Lane& lane, const Entry& entry);
  void evict_one(Lane& lane);
  void forget(Lane& lane, const DeliveryKey& key);
  void refill(Lane& lane);

  // --- attempts (runner_dispatch.cpp) ---
  // Picks what may start now (and what expired) in every lane: expiries become outcomes,
  // attempts are returned, claimed in `write` where their lane claims.
  std::vector<runner::Attempt> pick(StoreWrite& write);
  void start(const runner::Attempt& attempt);
  void give_back(const std::vector<runner::Attempt>& attempts);
  void take_results(runner::Finished finished);

  // --- outcomes (runner_outcomes.cpp) ---
  // Adds `outcomes` (with the DSNs they call for) to `write`; returns what settle() needs.
  struct Settlement {
    std::vector<runner::Outcome> outcomes;
    std::vector<NoticeMessage> notices;
  };
  Settlement record(std::vector<runner::Outcome> outcomes, StoreWrite& write);
  std::optional<NoticeMessage> notice_for(const MessageRecord& message,
                                          const MessageContent& content,
                                          const std::vector<NoticeItem>& items,
                                          TimePoint now) const;
  void settle(Settlement settlement);
  // The loop's batch: the outcomes waiting to be recorded and `claims`, in one write. False
  // when the store failed: the outcomes wait for the next try, the claims are not taken.
  bool write_batch(StoreWrite claims);
  bool waits_for_siblings(const runner::Outcome& outcome, const std::set<DeliveryKey>& batch) const;
  runner::Outcome expired_outcome(Lane& lane, const Entry& entry, const std::string& reason);

  // --- operator actions (runner_operator.cpp) ---
  std::optional<size_t> retry(std::string_view message_id);
  std::optional<size_t> hold(std::string_view message_id);
  std::optional<size_t> release(std::string_view message_id);
  std::optional<size_t> bounce(std::string_view message_id);
  template <class Visit>
  std::optional<size_t> for_each_unfinished(std::string_view message_id, Visit visit);
  Entry* known(const Delivery& delivery, Lane** lane);

  void sweep_finished();
  size_t in_memory() const;
  double jitter();

  Store& store;
  const Clock& clock;
  const QueueRunnerSettings settings;
  const RetryBudgets budgets;
  std::unique_ptr<BlockingTransportPool> local_pool;
  std::vector<std::unique_ptr<Lane>> lanes;

  // The inbox: the only state other threads touch.
  std::mutex inbox_mutex;
  std::condition_variable inbox_wake;
  std::vector<runner::Intake> intake;
  std::vector<runner::Finished> finished;
  std::vector<std::function<void()>> tasks;
  bool stopping = false;

  // The loop's own.
  bool stop_noticed = false;
  bool paused_for_space = false;  // local delivery waits while storage is low  // the loop has seen
                                  // `stopping` (it then waits for results only)
  std::vector<runner::Outcome> unrecorded;  // decided, waiting for a write that succeeds
  TimePoint next_write_try{};               // after a store failure, when to try again
  Duration write_backoff{};
  TimePoint next_sweep{};
  std::thread loop;
  std::thread::id loop_id;
};

}  // namespace herald
