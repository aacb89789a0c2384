// The sessions connected now and their subscriptions: where each published message goes
// (MQTT 5 4.7, 4.8, 3.3.4). Sessions end with their connection for now (session expiry is
// capped at 0, docs/mqtt.md), so the broker holds no message of its own: it charges each
// copy to the subscriber's QueueBudget and hands it to the subscriber's SessionSink.
//
// Thread-safe. Publishing, the hot path, takes a shared lock (many publishers route at
// once); subscribing, attaching and detaching take it exclusively. A sink is called under
// the shared lock and must not block or call back into the broker.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "mqtt/session_queue.h"
#include "mqtt/topic_tree.h"

namespace herald::mqtt {

// The connection side of a session. Thread-safe: the broker calls it from publishers'
// threads and from the thread of a connection that takes the session over.
class SessionSink {
 public:
  virtual ~SessionSink() = default;
  // A copy for the session, already charged to its budget (the session releases it once
  // the copy is sent at QoS 0, or acknowledged).
  virtual void deliver(Outgoing outgoing) = 0;
  // A new connection with the same client identifier took the session (MQTT 5 3.1.4-3):
  // end this connection (DISCONNECT 0x8E).
  virtual void taken_over() = 0;
};

struct BrokerLimits {
  uint32_t max_queued_messages = 1000;  // per session, waiting and in flight
  uint64_t max_queued_bytes = 16 * 1024 * 1024;
};

// What became of a published message.
struct PublishResult {
  size_t copies = 0;         // sessions it was queued for
  size_t dropped_qos0 = 0;   // QoS 0 copies left out because a subscriber's queue was full
  bool refused_full = false; // a QoS > 0 copy did not fit: nothing was queued (0x97)
};

class Broker {
 public:
  explicit Broker(BrokerLimits limits);
  ~Broker();

  // A connection's session. The budget is shared with the broker, which charges it.
  struct Attachment {
    SubscriberId id = 0;
    std::shared_ptr<QueueBudget> budget;
  };

  // Makes `client_id` the session of `sink`. A connection holding that client identifier
  // already is told taken_over() and detached first, its subscriptions gone with it.
  Attachment attach(const std::string& client_id, std::shared_ptr<SessionSink> sink);

  // Ends session `id`: its subscriptions go, and no more copies are queued for it. A no-op
  // for a session already detached (taken over).
  void detach(SubscriberId id);

  // Subscribes session `id`; whether it held this filter already (replaced). False and
  // nothing done for a detached session.
  bool subscribe(SubscriberId id, std::string_view filter, SubscriptionOptions options,
                 std::optional<uint32_t> identifier);
  // Whether the session held the filter.
  bool unsubscribe(SubscriberId id, std::string_view filter);
  // Filters session `id` holds.
  size_t subscriptions_of(SubscriberId id) const;

  // Routes `message` to every matching session but `publisher`'s no-local ones, one copy
  // per session and one member of each shared group (the next one in turn with room). A
  // copy at QoS > 0 that does not fit in its session's budget refuses the whole message,
  // queueing none; one at QoS 0 is left out and counted.
  PublishResult publish(const SharedMessage& message, std::optional<SubscriberId> publisher);

  // Sessions attached now.
  size_t sessions() const;

  // The arrival number of a new message (Message::sequence): increasing, from any thread.
  uint64_t next_sequence() { return sequence_.fetch_add(1, std::memory_order_relaxed) + 1; }

 private:
  struct Session {
    std::string client_id;
    std::shared_ptr<SessionSink> sink;
    std::shared_ptr<QueueBudget> budget;
  };
  struct Copy {
    const Session* session;
    Outgoing outgoing;
  };

  void detach_locked(SubscriberId id);
  bool charge(const Session& session, const Outgoing& outgoing, PublishResult& result,
              std::vector<Copy>& copies) const;
  const Subscription& pick_member(const SharedMatch& group, const Message& message) const;

  const BrokerLimits limits_;
  mutable std::shared_mutex mutex_;
  TopicTree tree_;
  std::unordered_map<SubscriberId, Session> sessions_;
  std::unordered_map<std::string, SubscriberId> by_client_;
  SubscriberId next_id_ = 1;
  std::atomic<uint64_t> sequence_{0};
};

}  // namespace herald::mqtt
