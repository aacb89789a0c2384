#include "mqtt/session_queue.h"

#include <algorithm>

namespace herald::mqtt {

namespace {

uint8_t band_of(int priority) {
  return static_cast<uint8_t>(9 - std::clamp(priority, -9, 9));
}

bool expired_at(const Outgoing& outgoing, TimePoint now) {
  return outgoing.message->expires_at && *outgoing.message->expires_at <= now;
}

}  // namespace

void SessionQueue::push(Outgoing outgoing) {
  bands_[band_of(outgoing.message->priority)].push_back(std::move(outgoing));
  ++size_;
}

// Each band is in arrival order, so the oldest message is at the front of one of them.
SessionQueue::Bands::iterator SessionQueue::oldest_band() {
  auto oldest = bands_.begin();
  for (auto it = bands_.begin(); it != bands_.end(); ++it) {
    if (it->second.front().message->sequence < oldest->second.front().message->sequence) {
      oldest = it;
    }
  }
  return oldest;
}

std::optional<Outgoing> SessionQueue::pop(TimePoint now, std::vector<Outgoing>& expired) {
  while (size_ > 0) {
    const bool oldest_turn = oldest_every_ > 0 && (pops_ + 1) % oldest_every_ == 0;
    const auto band = oldest_turn ? oldest_band() : bands_.begin();
    Outgoing next = std::move(band->second.front());
    band->second.pop_front();
    if (band->second.empty()) bands_.erase(band);
    --size_;
    if (expired_at(next, now)) {
      expired.push_back(std::move(next));
      continue;
    }
    ++pops_;
    return next;
  }
  return std::nullopt;
}

bool QueueBudget::try_charge(uint64_t bytes) {
  uint32_t messages = messages_.load(std::memory_order_relaxed);
  do {
    if (messages >= max_messages_) return false;
  } while (!messages_.compare_exchange_weak(messages, messages + 1, std::memory_order_relaxed));
  uint64_t held = bytes_.load(std::memory_order_relaxed);
  do {
    if (held + bytes > max_bytes_) {
      messages_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
  } while (!bytes_.compare_exchange_weak(held, held + bytes, std::memory_order_relaxed));
  return true;
}

void QueueBudget::release(uint64_t bytes) {
  messages_.fetch_sub(1, std::memory_order_relaxed);
  bytes_.fetch_sub(bytes, std::memory_order_relaxed);
}

}  // namespace herald::mqtt
