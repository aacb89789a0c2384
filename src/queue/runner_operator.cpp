// QueueControl on the runner's loop: retry, hold, release and bounce. Each walks the
// message's deliveries as stored (every unfinished delivery, a slice at a time, when no id
// is given), writes its changes in one batch per slice, and only then changes what the loop
// holds; a delivery in an attempt takes hold or bounce when the attempt ends.
#include <spdlog/spdlog.h>

#include "queue/runner_core.h"

namespace herald {
namespace {

constexpr size_t kOperatorSlice = 1000;

}  // namespace

using runner::Lane;

QueueRunner::Impl::Entry* QueueRunner::Impl::known(const Delivery& delivery, Lane** lane) {
  *lane = lane_for(delivery.transport);
  if (*lane == nullptr) return nullptr;
  auto it = (*lane)->entries.find(delivery.key());
  return it == (*lane)->entries.end() ? nullptr : &it->second;
}

// Calls visit(slice) with the unfinished deliveries of `message_id` (of every message when
// empty), as the store holds them, slice by slice; visit returns how many it changed.
// nullopt: an id was given and no such message is stored.
template <class Visit>
std::optional<size_t> QueueRunner::Impl::for_each_unfinished(std::string_view message_id,
                                                             Visit visit) {
  size_t changed = 0;
  if (!message_id.empty()) {
    std::vector<Delivery> slice;
    for (Delivery& d : store.deliveries(message_id)) {
      if (!is_terminal(d.state)) slice.push_back(std::move(d));
    }
    if (slice.empty() && !store.message(message_id)) return std::nullopt;
    return visit(slice);
  }
  std::optional<DeliveryKey> after;
  for (;;) {
    const std::vector<Delivery> slice = store.unfinished_deliveries(after, kOperatorSlice);
    changed += visit(slice);
    if (slice.size() < kOperatorSlice) return changed;
    after = slice.back().key();
  }
}

namespace {

LedgerEvent operator_event(TimePoint now, const Delivery& d, std::string_view type) {
  return LedgerEvent{now, std::string(type), d.mailbox, {{"by", "postmaster"}}};
}

}  // namespace

std::optional<size_t> QueueRunner::Impl::retry(std::string_view message_id) {
  const TimePoint now = clock.now();
  const auto count = for_each_unfinished(message_id, [&](const std::vector<Delivery>& slice) {
    StoreWrite write;
    for (const Delivery& stored : slice) {
      Lane* lane = nullptr;
      const Entry* entry = known(stored, &lane);
      if (stored.held || (entry != nullptr && entry->busy)) continue;
      Delivery d = entry != nullptr ? entry->delivery : stored;
      d.next_attempt = now;
      write.updates.push_back({d, {}});
    }
    if (!message_id.empty() && !write.updates.empty()) {
      write.events.push_back(
          {std::string(message_id), LedgerEvent{now, "retry", "", {{"by", "postmaster"}}}});
    }
    if (!write.empty()) store.apply(write);
    for (const auto& update : write.updates) {
      Lane* lane = nullptr;
      std::shared_ptr<const MessageRecord> message;
      if (Entry* entry = known(update.delivery, &lane)) {
        message = entry->message;
        forget(*lane, update.delivery.key());
      }
      if (lane == nullptr) continue;
      if (!message)
        message = std::make_shared<const MessageRecord>(
            store.message(update.delivery.message_id).value_or(MessageRecord{}));
      place(*lane, std::move(message), update.delivery);
    }
    return write.updates.size();
  });
  return count;
}

std::optional<size_t> QueueRunner::Impl::hold(std::string_view message_id) {
  const TimePoint now = clock.now();
  return for_each_unfinished(message_id, [&](const std::vector<Delivery>& slice) {
    StoreWrite write;
    size_t requested = 0;
    for (const Delivery& stored : slice) {
      Lane* lane = nullptr;
      Entry* entry = known(stored, &lane);
      if (stored.held) continue;
      if (entry != nullptr && entry->busy) {
        entry->hold_requested = true;
        ++requested;
        continue;
      }
      Delivery d = entry != nullptr ? entry->delivery : stored;
      d.held = true;
      write.updates.push_back({d, {operator_event(now, d, "held")}});
    }
    if (!write.empty()) store.apply(write);
    for (const auto& update : write.updates) {
      Lane* lane = nullptr;
      if (known(update.delivery, &lane) != nullptr) forget(*lane, update.delivery.key());
    }
    return write.updates.size() + requested;
  });
}

std::optional<size_t> QueueRunner::Impl::release(std::string_view message_id) {
  const TimePoint now = clock.now();
  return for_each_unfinished(message_id, [&](const std::vector<Delivery>& slice) {
    StoreWrite write;
    for (const Delivery& stored : slice) {
      if (!stored.held) continue;
      Delivery d = stored;
      d.held = false;
      d.next_attempt = now;
      write.updates.push_back({d, {operator_event(now, d, "released")}});
    }
    if (!write.empty()) store.apply(write);
    std::shared_ptr<const MessageRecord> message;
    for (const auto& update : write.updates) {
      Lane* lane = lane_for(update.delivery.transport);
      if (lane == nullptr) continue;
      if (!message || message->id != update.delivery.message_id) {
        message = std::make_shared<const MessageRecord>(
            store.message(update.delivery.message_id).value_or(MessageRecord{}));
      }
      place(*lane, message, update.delivery);
    }
    return write.updates.size();
  });
}

std::optional<size_t> QueueRunner::Impl::bounce(std::string_view message_id) {
  const TimePoint now = clock.now();
  return for_each_unfinished(message_id, [&](const std::vector<Delivery>& slice) {
    std::vector<runner::Outcome> outcomes;
    std::vector<std::pair<Lane*, DeliveryKey>> taken;  // made busy here, for the record
    size_t requested = 0;
    for (const Delivery& stored : slice) {
      Lane* lane = nullptr;
      Entry* entry = known(stored, &lane);
      if (lane == nullptr) continue;
      if (entry != nullptr && entry->busy) {
        entry->bounce_requested = true;
        ++requested;
        continue;
      }
      if (entry != nullptr) {
        make_busy(*lane, stored.key());
      } else {
        Entry& fresh = lane->entries[stored.key()];
        fresh.delivery = stored;
        fresh.message = std::make_shared<const MessageRecord>(
            store.message(stored.message_id).value_or(MessageRecord{}));
        fresh.busy = true;
      }
      taken.emplace_back(lane, stored.key());
      const Delivery& d = lane->entries.at(stored.key()).delivery;
      RecordedAttempt recorded{d, LedgerEvent{now, "bounced", d.mailbox, {}}, ""};
      runner::returned_by_postmaster(recorded);
      recorded.event.fields = {{"reply", recorded.delivery.last_reply}, {"by", "postmaster"}};
      outcomes.push_back({lane, std::move(recorded), "", nullptr});
    }
    if (outcomes.empty()) return requested;
    StoreWrite write;
    try {
      Settlement settlement = record(outcomes, write);
      store.apply(write);
      settle(std::move(settlement));
    } catch (const StoreError&) {
      // Nothing changed: what was waiting waits again.
      for (const auto& [lane, key] : taken) {
        Entry& entry = lane->entries.at(key);
        const Delivery d = entry.delivery;
        const auto message = entry.message;
        lane->entries.erase(key);
        place(*lane, message, d);
      }
      throw;
    }
    return outcomes.size() + requested;
  });
}

}  // namespace herald
