// Which delivery is attempted next (DESIGN.md section 3). Ready deliveries go by priority,
// then deadline, then age; each destination has a concurrency limit, a share of it reserved
// for urgent mail (priority > 0), and a rate limit; every Nth attempt started goes to the
// oldest waiting delivery whatever its priority, so the lowest priorities keep moving.
//
// Why every Nth pick rather than aging: it keeps the order strict for the other picks (a +9
// always beats a +8), it gives a bound a test can state ("a -9 starts within N picks once it
// is the oldest") instead of one that depends on clock speed, and it needs only a second
// index by age, not a re-sort as waits grow.
//
// A data structure and nothing else: no threads, no clock; every call that depends on time
// takes `now`. Not thread-safe: the queue runner calls it under its own lock. Every
// operation is O(log n) in the deliveries held (amortised over destinations that turn out
// to be rate-limited when picked).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "queue/scheduling_facts.h"
#include "util/clock.h"

namespace herald {

struct DestinationLimits {
  uint32_t max_concurrent = 20;  // attempts in progress at once; 0 is read as 1
  // Slots that only priority > 0 may use, so that a destination full of low-priority mail
  // still starts urgent mail at its next free slot. Low priorities always keep at least one
  // slot: a reservation never stops them outright.
  uint32_t reserved_for_urgent = 1;
  // At most `rate_attempts` attempts started per `rate_interval`, as a token bucket that
  // holds `rate_attempts` tokens: a burst up to that many, then one per interval/attempts.
  // 0 attempts (or a zero interval): no rate limit.
  uint32_t rate_attempts = 0;
  Duration rate_interval{};
};

struct SchedulerConfig {
  DestinationLimits defaults;
  std::map<std::string, DestinationLimits, std::less<>> destinations;  // overrides by name
  // Every Nth attempt started goes to the oldest waiting delivery that may start. 0 turns the
  // fair share off (strict priority order, low priorities may starve).
  uint32_t fair_share_every = 8;
};

// What take_ready hands out.
struct Due {
  enum class Action {
    attempt,  // start an attempt, then call finished(key) when it is over
    expire,   // its `expires` has come: record it as expired; the scheduler has dropped it
  };
  DeliveryKey key;
  Action action = Action::attempt;
};

class Scheduler {
 public:
  explicit Scheduler(SchedulerConfig config);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Holds `key` until facts.next_attempt, then offers it. A key already waiting is replaced
  // (new facts); a key in flight is finished() first, so a retry may be inserted directly.
  void insert(const DeliveryKey& key, const SchedulingFacts& facts);

  // The next thing to do at `now`: first any waiting delivery whose `expires` has come (no
  // slot needed), then the best ready delivery whose destination has a usable slot and a
  // rate token. nullopt when nothing may start now; see next_wakeup().
  std::optional<Due> take_ready(TimePoint now);

  // Deliveries of the same message, destination and envelope sender as `lead` (just handed
  // out as an attempt) that are ready at `now`, at most `limit`, in index order: they leave the
  // schedule and ride in the lead's attempt and slot (one SMTP transaction carries several
  // recipients), so finished(lead) ends them all. None whose hard stop has come.
  std::vector<DeliveryKey> take_companions(const DeliveryKey& lead, TimePoint now, size_t limit);

  // The attempt of `key` is over: frees its destination slot. Unknown keys are ignored.
  void finished(const DeliveryKey& key);

  // A waiting `key` leaves the schedule without an attempt (held, bounced, or moved out of
  // the queue's window). Keys not waiting are ignored.
  void remove(const DeliveryKey& key);

  // When take_ready may next have something: TimePoint::min() when it may have something
  // already, nullopt when nothing waits but behind busy slots (finished() changes that).
  std::optional<TimePoint> next_wakeup() const;

  size_t waiting() const;    // inserted, neither handed out nor expired
  size_t in_flight() const;  // handed out as attempts, not yet finished

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace herald
