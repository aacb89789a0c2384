#include "queue/scheduler.h"

#include <algorithm>
#include <set>
#include <utility>

namespace herald {
namespace {

// The order among ready deliveries: priority descending, deadline ascending with none last,
// arrival ascending. The key breaks the remaining ties so that every rank is unique.
struct Rank {
  int priority = 0;
  TimePoint deadline;
  TimePoint arrival;
  DeliveryKey key;

  bool operator<(const Rank& other) const {
    if (priority != other.priority) return priority > other.priority;
    if (deadline != other.deadline) return deadline < other.deadline;
    if (arrival != other.arrival) return arrival < other.arrival;
    return key < other.key;
  }
};

// The order of the fair share: oldest first.
struct Age {
  TimePoint arrival;
  DeliveryKey key;

  auto operator<=>(const Age&) const = default;
};

Rank rank_of(const DeliveryKey& key, const SchedulingFacts& facts) {
  return {facts.priority, facts.deadline.value_or(TimePoint::max()), facts.arrival, key};
}

Age age_of(const DeliveryKey& key, const SchedulingFacts& facts) {
  return {facts.arrival, key};
}

bool is_urgent(int priority) {
  return priority > 0;
}

uint32_t total_slots(const DestinationLimits& limits) {
  return std::max<uint32_t>(limits.max_concurrent, 1);
}

uint32_t low_priority_slots(const DestinationLimits& limits) {
  const uint32_t total = total_slots(limits);
  return std::max<uint32_t>(total - std::min(limits.reserved_for_urgent, total), 1);
}

bool is_rate_limited(const DestinationLimits& limits) {
  return limits.rate_attempts > 0 && limits.rate_interval > Duration::zero();
}

// The token bucket kept as one time (the generic cell rate algorithm): each attempt pushes
// `theoretical` on by one emission interval; an attempt may start once `theoretical` is at
// most a full bucket's worth of intervals ahead of now.
Duration emission_interval(const DestinationLimits& limits) {
  return limits.rate_interval / limits.rate_attempts;
}

}  // namespace

struct Scheduler::State {
  struct Waiting {
    SchedulingFacts facts;
    bool ready = false;  // moved from not_yet_ready into its destination's ready sets
  };

  struct Running {
    std::string destination;
    bool urgent = false;
    std::string envelope_sender;  // companions must have the same
  };

  struct Destination {
    DestinationLimits limits;
    std::set<Rank> ready_by_rank;
    std::set<Age> urgent_by_age;  // ready, priority > 0
    std::set<Age> others_by_age;  // ready, priority <= 0
    uint32_t running = 0;
    uint32_t running_low = 0;             // of `running`, those with priority <= 0
    TimePoint theoretical{};              // rate: the bucket is full once now reaches it
    std::optional<TimePoint> revisit_at;  // its entry in `revisits`
    bool rate_blocked = false;            // waits for its revisit before it may start more
    std::optional<Rank> listed_rank;      // its entry in runnable_by_rank
    std::optional<Age> listed_age;        // its entry in runnable_by_age
  };

  SchedulerConfig config;
  std::map<DeliveryKey, Waiting> waiting;
  std::map<DeliveryKey, Running> running;
  std::map<std::string, Destination, std::less<>> destinations;
  std::set<std::pair<TimePoint, DeliveryKey>> not_yet_ready;
  std::set<std::pair<TimePoint, DeliveryKey>> expiries;
  // Destinations to look at again: when a rate limit lets them start, or when an idle one
  // has a full bucket and can be forgotten without losing its rate history.
  std::set<std::pair<TimePoint, std::string>> revisits;
  // Destinations that may start something now, by the candidate each would start.
  std::map<Rank, std::string> runnable_by_rank;
  std::map<Age, std::string> runnable_by_age;
  uint64_t attempts_started = 0;

  Destination& destination(const std::string& name) {
    auto it = destinations.find(name);
    if (it != destinations.end()) return it->second;
    Destination fresh;
    const auto override_it = config.destinations.find(name);
    fresh.limits = override_it != config.destinations.end() ? override_it->second : config.defaults;
    return destinations.emplace(name, std::move(fresh)).first->second;
  }

  TimePoint rate_allows_at(const Destination& dest) const {
    if (!is_rate_limited(dest.limits)) return TimePoint::min();
    return dest.theoretical - (dest.limits.rate_interval - emission_interval(dest.limits));
  }

  void schedule_revisit(const std::string& name, Destination& dest, TimePoint at) {
    if (dest.revisit_at) revisits.erase({*dest.revisit_at, name});
    dest.revisit_at = at;
    revisits.emplace(at, name);
  }

  void unlist(Destination& dest) {
    if (dest.listed_rank) runnable_by_rank.erase(*dest.listed_rank);
    if (dest.listed_age) runnable_by_age.erase(*dest.listed_age);
    dest.listed_rank.reset();
    dest.listed_age.reset();
  }

  // Re-lists `dest` in the runnable indexes by what it could start now, given its slots.
  void refresh(const std::string& name, Destination& dest) {
    unlist(dest);
    if (dest.ready_by_rank.empty() && dest.running == 0) {
      if (!dest.revisit_at) schedule_revisit(name, dest, dest.theoretical);
      return;
    }
    if (dest.rate_blocked || dest.ready_by_rank.empty()) return;
    const bool urgent_may_start = dest.running < total_slots(dest.limits);
    const bool low_may_start =
        urgent_may_start && dest.running_low < low_priority_slots(dest.limits);
    const Rank& best = *dest.ready_by_rank.begin();
    if (low_may_start || (urgent_may_start && is_urgent(best.priority))) dest.listed_rank = best;
    if (urgent_may_start && !dest.urgent_by_age.empty()) {
      dest.listed_age = *dest.urgent_by_age.begin();
    }
    if (low_may_start && !dest.others_by_age.empty() &&
        (!dest.listed_age || *dest.others_by_age.begin() < *dest.listed_age)) {
      dest.listed_age = *dest.others_by_age.begin();
    }
    if (dest.listed_rank) runnable_by_rank.emplace(*dest.listed_rank, name);
    if (dest.listed_age) runnable_by_age.emplace(*dest.listed_age, name);
  }

  void make_ready(const DeliveryKey& key, Waiting& entry) {
    entry.ready = true;
    Destination& dest = destination(entry.facts.destination);
    dest.ready_by_rank.insert(rank_of(key, entry.facts));
    auto& by_age = is_urgent(entry.facts.priority) ? dest.urgent_by_age : dest.others_by_age;
    by_age.insert(age_of(key, entry.facts));
    refresh(entry.facts.destination, dest);
  }

  // Forgets a waiting delivery, wherever it waits.
  void remove_waiting(std::map<DeliveryKey, Waiting>::iterator it) {
    const DeliveryKey& key = it->first;
    const SchedulingFacts& facts = it->second.facts;
    if (it->second.ready) {
      Destination& dest = destination(facts.destination);
      dest.ready_by_rank.erase(rank_of(key, facts));
      dest.urgent_by_age.erase(age_of(key, facts));
      dest.others_by_age.erase(age_of(key, facts));
      refresh(facts.destination, dest);
    } else {
      not_yet_ready.erase({facts.next_attempt, key});
    }
    if (facts.expires) expiries.erase({*facts.expires, key});
    waiting.erase(it);
  }

  void revisit_due(TimePoint now) {
    while (!revisits.empty() && revisits.begin()->first <= now) {
      const std::string name = revisits.begin()->second;
      revisits.erase(revisits.begin());
      Destination& dest = destinations.at(name);
      dest.revisit_at.reset();
      dest.rate_blocked = false;
      const bool idle = dest.ready_by_rank.empty() && dest.running == 0;
      if (idle && dest.theoretical <= now) {
        destinations.erase(name);
      } else {
        refresh(name, dest);
      }
    }
  }

  void promote_due(TimePoint now) {
    while (!not_yet_ready.empty() && not_yet_ready.begin()->first <= now) {
      const DeliveryKey key = not_yet_ready.begin()->second;
      not_yet_ready.erase(not_yet_ready.begin());
      make_ready(key, waiting.at(key));
    }
  }

  Due start(const DeliveryKey& key, TimePoint now) {
    auto it = waiting.find(key);
    const std::string name = it->second.facts.destination;
    const bool urgent = is_urgent(it->second.facts.priority);
    const std::string envelope_sender = it->second.facts.envelope_sender;
    Destination& dest = destination(name);
    // Counted before it leaves the ready sets, so the destination never looks idle between.
    ++dest.running;
    if (!urgent) ++dest.running_low;
    remove_waiting(it);
    if (is_rate_limited(dest.limits)) {
      dest.theoretical = std::max(dest.theoretical, now) + emission_interval(dest.limits);
    }
    running[key] = Running{name, urgent, envelope_sender};
    ++attempts_started;
    refresh(name, dest);
    return Due{key, Due::Action::attempt};
  }

  bool fair_turn() const {
    return config.fair_share_every > 0 && (attempts_started + 1) % config.fair_share_every == 0;
  }
};

Scheduler::Scheduler(SchedulerConfig config) : state_(std::make_unique<State>()) {
  state_->config = std::move(config);
}

Scheduler::~Scheduler() = default;

void Scheduler::insert(const DeliveryKey& key, const SchedulingFacts& facts) {
  State& s = *state_;
  finished(key);
  if (auto old = s.waiting.find(key); old != s.waiting.end()) s.remove_waiting(old);
  s.waiting[key] = State::Waiting{facts, false};
  s.not_yet_ready.emplace(facts.next_attempt, key);
  if (facts.expires) s.expiries.emplace(*facts.expires, key);
}

std::optional<Due> Scheduler::take_ready(TimePoint now) {
  State& s = *state_;
  s.revisit_due(now);
  // Expiry first and without a slot: an attempt must never start at or after `expires`.
  if (!s.expiries.empty() && s.expiries.begin()->first <= now) {
    const DeliveryKey key = s.expiries.begin()->second;
    s.remove_waiting(s.waiting.find(key));
    return Due{key, Due::Action::expire};
  }
  s.promote_due(now);
  for (;;) {
    const bool fair = s.fair_turn();
    if (s.runnable_by_rank.empty() || s.runnable_by_age.empty()) return std::nullopt;
    const DeliveryKey key =
        fair ? s.runnable_by_age.begin()->first.key : s.runnable_by_rank.begin()->first.key;
    const std::string name = s.waiting.at(key).facts.destination;
    State::Destination& dest = s.destination(name);
    const TimePoint allowed = s.rate_allows_at(dest);
    if (allowed <= now) return s.start(key, now);
    // Set aside until its bucket has a token again, so the next pick looks elsewhere.
    s.unlist(dest);
    dest.rate_blocked = true;
    s.schedule_revisit(name, dest, allowed);
  }
}

std::vector<DeliveryKey> Scheduler::take_companions(const DeliveryKey& lead, TimePoint now,
                                                    size_t limit) {
  State& s = *state_;
  std::vector<DeliveryKey> companions;
  const auto running = s.running.find(lead);
  if (running == s.running.end()) return companions;
  s.promote_due(now);
  // Keys sort by message id, then index: the message's deliveries are one run of the map.
  auto it = s.waiting.lower_bound(DeliveryKey{lead.message_id, 0});
  while (it != s.waiting.end() && it->first.message_id == lead.message_id &&
         companions.size() < limit) {
    const SchedulingFacts& facts = it->second.facts;
    const bool rides = it->second.ready && facts.destination == running->second.destination &&
                       facts.envelope_sender == running->second.envelope_sender &&
                       !(facts.expires && *facts.expires <= now);
    if (!rides) {
      ++it;
      continue;
    }
    companions.push_back(it->first);
    s.remove_waiting(it++);
  }
  return companions;
}

void Scheduler::finished(const DeliveryKey& key) {
  State& s = *state_;
  auto it = s.running.find(key);
  if (it == s.running.end()) return;
  const std::string name = it->second.destination;
  State::Destination& dest = s.destination(name);
  --dest.running;
  if (!it->second.urgent) --dest.running_low;
  s.running.erase(it);
  s.refresh(name, dest);
}

void Scheduler::remove(const DeliveryKey& key) {
  State& s = *state_;
  if (auto it = s.waiting.find(key); it != s.waiting.end()) s.remove_waiting(it);
}

std::optional<TimePoint> Scheduler::next_wakeup() const {
  const State& s = *state_;
  if (!s.runnable_by_rank.empty()) return TimePoint::min();
  std::optional<TimePoint> earliest;
  const auto consider = [&earliest](TimePoint t) {
    if (!earliest || t < *earliest) earliest = t;
  };
  if (!s.not_yet_ready.empty()) consider(s.not_yet_ready.begin()->first);
  if (!s.expiries.empty()) consider(s.expiries.begin()->first);
  if (!s.revisits.empty()) consider(s.revisits.begin()->first);
  return earliest;
}

size_t Scheduler::waiting() const {
  return state_->waiting.size();
}

size_t Scheduler::in_flight() const {
  return state_->running.size();
}

}  // namespace herald
