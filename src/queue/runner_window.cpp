// What the runner holds of the store's due index: each lane's window, filled in slices from
// the store and by sessions' commits, never more than [queue] active_limit deliveries.
#include <spdlog/spdlog.h>

#include "queue/queue_policy.h"
#include "queue/runner_core.h"

namespace herald {
namespace {

// How far ahead of now a refill reads: deliveries due this soon wait in memory, where the
// schedule starts them on time; later ones stay in the store until they come near.
constexpr auto kLookahead = std::chrono::minutes(1);

// At most this many deliveries per read of the due index.
constexpr size_t kRefillSlice = 1000;

// How often a refill reads anyway, for deliveries that time brings into the lookahead: far
// less than the lookahead itself, so that each is in the window long before it is due.
constexpr auto kTimedRefill = std::chrono::seconds(1);

// Past every real entry of `band` of `transport` due at or before `until`: message ids are
// ASCII, and 0xFF sorts after every ASCII byte (strings compare as unsigned bytes).
DuePosition end_of(const std::string& transport, uint8_t band, TimePoint until) {
  return DuePosition{transport, band, until, std::string(1, '\xff'), 0};
}

bool waits(const Delivery& d) {
  return !is_terminal(d.state) && !d.held;
}

}  // namespace

using runner::Lane;

Lane* QueueRunner::Impl::lane_for(const std::string& transport) {
  for (auto& lane : lanes) {
    if (lane->name == transport) return lane.get();
  }
  return nullptr;
}

// A session's commit: its deliveries that the window covers are read back from the store
// first, because the window may have taken them from the due index, attempted and
// finished them before this hand-over came; the store's copy then says so. One beyond the
// window is taken too when there is room, or when it outranks what a full window would give
// up for it (new urgent mail does not wait behind a backlog of bulk mail).
void QueueRunner::Impl::take_in(const runner::Intake& in) {
  std::optional<std::vector<Delivery>> stored;
  for (const Delivery& d : in.deliveries) {
    Lane* lane = lane_for(d.transport);
    if (lane == nullptr) {
      spdlog::warn("queue: no transport '{}' for delivery {}/{}; left pending", d.transport,
                   d.message_id, d.index);
      continue;
    }
    if (!waits(d) || lane->entries.contains(d.key())) continue;
    if (!window_takes(*lane, *in.message, d)) {
      lane->unread_in_store = true;  // a refill reads it
      continue;
    }
    if (!stored) stored = store.deliveries(d.message_id);
    if (d.index >= stored->size()) continue;
    const Delivery& now = (*stored)[d.index];
    if (waits(now) && window_takes(*lane, *in.message, now)) admit(*lane, in.message, now);
  }
}

bool QueueRunner::Impl::window_takes(const Lane& lane, const MessageRecord& message,
                                     const Delivery& d) const {
  const DuePosition position = DuePosition::of(d);
  if (position <= lane.covered[position.band]) return true;
  if (lane.entries.size() < settings.queue.active_limit) return true;
  return !lane.by_eviction.empty() && -lane.by_eviction.begin()->first < message.qos.priority;
}

void QueueRunner::Impl::place(Lane& lane, std::shared_ptr<const MessageRecord> message,
                              const Delivery& delivery) {
  if (!waits(delivery) || lane.entries.contains(delivery.key())) return;
  const DuePosition position = DuePosition::of(delivery);
  if (position <= lane.covered[position.band]) {
    admit(lane, std::move(message), delivery);
  } else {
    lane.unread_in_store = true;
  }
}

void QueueRunner::Impl::admit(Lane& lane, std::shared_ptr<const MessageRecord> message,
                              const Delivery& delivery) {
  Entry& entry = lane.entries[delivery.key()];
  entry.facts = scheduling_facts(*message, delivery);
  entry.delivery = delivery;
  entry.message = std::move(message);
  wait_in_window(lane, entry);
  // Busy entries are not moved; they are bounded by the lane's attempts.
  while (lane.entries.size() > settings.queue.active_limit && lane.waiting.size() >= 2) {
    evict_one(lane);
  }
}

// The lowest priority, due last, goes back to being only in the store. If the window
// covered it, its band's coverage now ends before it: below the one given up, everything of
// the band is still known.
void QueueRunner::Impl::evict_one(Lane& lane) {
  const DuePosition victim = lane.by_eviction.begin()->second;
  forget(lane, DeliveryKey{victim.message_id, victim.index});
  lane.unread_in_store = true;
  DuePosition& covered = lane.covered[victim.band];
  if (victim > covered) return;
  const auto below = lane.waiting.lower_bound(victim);
  // Nothing of the band waits below it: read the band again from its start; what is known
  // is skipped.
  const bool band_below = below != lane.waiting.begin() && std::prev(below)->band == victim.band;
  covered = band_below ? *std::prev(below) : DuePosition::start_of(lane.name, victim.band);
}

void QueueRunner::Impl::wait_in_window(Lane& lane, const Entry& entry) {
  const DuePosition position = DuePosition::of(entry.delivery);
  lane.waiting.insert(position);
  lane.by_eviction.emplace(-entry.facts.priority, position);
  lane.scheduler.insert(entry.delivery.key(), entry.facts);
}

void QueueRunner::Impl::leave_window(Lane& lane, const Entry& entry) {
  const DuePosition position = DuePosition::of(entry.delivery);
  lane.waiting.erase(position);
  lane.by_eviction.erase({-entry.facts.priority, position});
  lane.scheduler.remove(entry.delivery.key());
}

// A waiting entry leaves the schedule to be attempted, expired or changed by an operator.
void QueueRunner::Impl::make_busy(Lane& lane, const DeliveryKey& key) {
  Entry& entry = lane.entries.at(key);
  leave_window(lane, entry);
  entry.busy = true;
}

void QueueRunner::Impl::forget(Lane& lane, const DeliveryKey& key) {
  auto it = lane.entries.find(key);
  if (it == lane.entries.end()) return;
  if (!it->second.busy) leave_window(lane, it->second);
  lane.entries.erase(it);
}

// Reads the bands from the highest priority down, each from its coverage, until the room
// is filled: urgent mail due now comes in before bulk mail due earlier, however much of it
// the store holds.
void QueueRunner::Impl::refill(Lane& lane) {
  const size_t limit = settings.queue.active_limit;
  if (lane.entries.size() >= limit) return;
  const TimePoint now = clock.now();
  if (!lane.unread_in_store && now < lane.next_timed_refill) return;
  const TimePoint until = now + kLookahead;
  size_t room = std::min(limit - lane.entries.size(), kRefillSlice);
  for (uint8_t band = 0; band < DuePosition::kBands && room > 0; ++band) {
    DuePosition& covered = lane.covered[band];
    std::vector<DueDelivery> due;
    try {
      due = store.due_deliveries(covered, until, room);
    } catch (const StoreError& e) {
      spdlog::warn("queue: reading the {} due index failed: {}; tried again shortly", lane.name,
                   e.what());
      return;
    }
    for (DueDelivery& d : due) {
      // Busy ones were claimed (their entry moved) or are being recorded: the loop knows them.
      if (!lane.entries.contains(d.delivery.key())) admit(lane, std::move(d.message), d.delivery);
    }
    if (due.size() < room) {
      covered = std::max(covered, end_of(lane.name, band, until));
    } else {
      covered = std::max(covered, DuePosition::of(due.back().delivery));
    }
    room -= due.size();
  }
  lane.unread_in_store = room == 0;  // a read stopped at the room: more may wait
  lane.next_timed_refill = now + kTimedRefill;
}

}  // namespace herald
