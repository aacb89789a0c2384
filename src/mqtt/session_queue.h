// The messages waiting for one session, in the order it gets them (DESIGN.md section 3, as
// the mail scheduler): highest priority first, oldest first within a priority, and every
// Nth message the oldest of all whatever its priority, so that a flood of urgent messages
// never starves the rest. Messages past their expiry are taken out, not sent.
//
// What it holds is bounded by the caller: the broker charges each message to the
// session's QueueBudget before it is queued. Not thread-safe: one per session, on its
// connection's strand.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "mqtt/message.h"
#include "store/records.h"

namespace herald::mqtt {

// One message for one session: the QoS it is delivered at (the lower of the message's and
// the subscription's), whether RETAIN is set towards the subscriber, and the identifiers of
// the subscriptions it matched (MQTT 5 3.3.4). A copy read from a persistent session's
// queue in the store carries its delivery, to be marked delivered when the client answers.
struct Outgoing {
  SharedMessage message;
  QoS qos = QoS::at_most_once;
  bool retain = false;
  std::vector<uint32_t> identifiers;
  std::shared_ptr<const Delivery> stored;
};

class SessionQueue {
 public:
  // `oldest_every`: the Nth pop takes the oldest message ([queue] fair_share_every); 0:
  // strict priority order.
  explicit SessionQueue(uint32_t oldest_every = 8) : oldest_every_(oldest_every) {}

  void push(Outgoing outgoing);

  // The next message to send, or nullopt when none is left. Messages whose expires_at is
  // at or before `now` are moved to `expired` on the way.
  std::optional<Outgoing> pop(TimePoint now, std::vector<Outgoing>& expired);

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  // Band 0 holds priority 9, band 18 priority -9. Only bands holding messages exist: an
  // idle session (of a hundred thousand) holds no memory here.
  using Bands = std::map<uint8_t, std::deque<Outgoing>>;

  Bands::iterator oldest_band();

  uint32_t oldest_every_;
  uint64_t pops_ = 0;
  size_t size_ = 0;
  Bands bands_;
};

// What one session's waiting and in-flight messages may hold ([mqtt] max_queued_messages and
// max_queued_bytes). Thread-safe: publishers charge it on their threads, the session's
// connection gives back what it has sent or finished.
class QueueBudget {
 public:
  QueueBudget(uint32_t max_messages, uint64_t max_bytes)
      : max_messages_(max_messages), max_bytes_(max_bytes) {}

  // Takes one message of `bytes`; false, taking nothing, when either limit would be passed.
  bool try_charge(uint64_t bytes);
  void release(uint64_t bytes);
  // Counts `messages` already held elsewhere (a persistent session's queue found in the
  // store at start), past the limit if need be: then nothing more fits until they go.
  void charge_held(uint32_t messages) { messages_.fetch_add(messages, std::memory_order_relaxed); }

  uint32_t messages() const { return messages_.load(std::memory_order_relaxed); }
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  const uint32_t max_messages_;
  const uint64_t max_bytes_;
  std::atomic<uint32_t> messages_{0};
  std::atomic<uint64_t> bytes_{0};
};

}  // namespace herald::mqtt
