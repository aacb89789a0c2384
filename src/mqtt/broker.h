// The sessions and their subscriptions: where each published message goes (MQTT 5 4.7, 4.8,
// 3.3.4). A session ends with its connection unless it has a session expiry (persistent):
// then it stays, offline, with its subscriptions, until it expires or a connection resumes
// it. The broker holds no message of its own but the wills of offline sessions waiting out
// their delay (mqtt/pending_wills.h). A copy for a session that ends with its
// connection is charged to the subscriber's QueueBudget and handed to its SessionSink; a copy
// at QoS > 0 for a persistent session is named in the result instead (PublishResult::kept),
// for the publisher to commit to the store, which is that session's queue; the broker then
// wakes the session if it is online (stored()).
//
// Thread-safe. Publishing, the hot path, takes a shared lock (many publishers route at
// once), as does an operator's snapshot; subscribing, attaching and detaching take it
// exclusively. A sink is called under the shared lock and must not block or call back into
// the broker.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "mqtt/pending_wills.h"
#include "mqtt/session_queue.h"
#include "mqtt/session_snapshot.h"
#include "mqtt/topic_tree.h"
#include "store/mqtt_records.h"

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
  // Copies for this (persistent) session were committed to the store: read its queue.
  virtual void stored() = 0;
};

// The session a CONNECT asks for (MQTT 5 3.1.2.4, 3.1.2.11.2).
struct SessionLife {
  bool clean_start = true;
  uint32_t expiry_interval = 0;  // seconds; 0 ends the session with its connection
};

// A copy at QoS > 0 for a persistent session, for the publisher to commit (store/records.h
// MqttCopyFields says what each field means).
struct KeptCopy {
  std::string client_id;
  MqttCopyFields fields;
};

// Who a session is, as snapshot() shows it; fixed when it attaches.
struct SessionOrigin {
  std::string client_id;
  std::string peer;  // the connection's "ip:port"
  ProtocolVersion version = ProtocolVersion::v5;
  TimePoint connected{};
};

// What only the session knows of itself, kept where snapshot() can read it. The session
// writes it on its strand; snapshot() reads it from any thread (hence atomic, relaxed: a
// count a moment old is what an operator's listing shows anyway).
struct SessionStats {
  std::atomic<uint32_t> in_flight{0};  // QoS 1 and 2 copies sent, not yet acknowledged
};

// Per session: what it holds in memory, waiting and in flight; and for a persistent session,
// the copies its queue in the store holds (max_queued_messages again, the disk's bytes).
struct BrokerLimits {
  uint32_t max_queued_messages = 1000;
  uint64_t max_queued_bytes = 16 * 1024 * 1024;
};

// What became of a published message.
struct PublishResult {
  size_t copies = 0;           // sessions it was queued or kept for
  size_t dropped_qos0 = 0;     // QoS 0 copies left out because a subscriber's queue was full
  bool refused_full = false;   // a QoS > 0 copy did not fit: nothing was queued (0x97)
  std::vector<KeptCopy> kept;  // for persistent sessions, to commit; counted in copies
};

class Broker {
 public:
  explicit Broker(BrokerLimits limits);
  ~Broker();

  // A connection's session. The budget is shared with the broker, which charges it; the
  // stats with snapshot(), which reads them.
  struct Attachment {
    SubscriberId id = 0;
    uint64_t generation = 0;  // which connection of the session this is
    std::shared_ptr<QueueBudget> budget;
    std::shared_ptr<SessionStats> stats;
    // The subscriptions of the persistent session resumed (CONNACK session present); nullopt
    // for a new session.
    std::optional<std::vector<StoredSubscription>> resumed;
    // A persistent session of this client id was there and clean start ended it: its stored
    // queue is the caller's to end.
    bool discarded = false;
  };

  // Makes `origin.client_id` the session of `sink`. A connection holding that client
  // identifier already is told taken_over() first. Without clean start a persistent session
  // of that client id (online or not) is resumed, subscriptions and all; otherwise whatever
  // session was there ends and a new one starts.
  Attachment attach(SessionOrigin origin, std::shared_ptr<SessionSink> sink, SessionLife life = {});

  // The connection of `attachment` ends. With `expiry_interval` 0 the session ends: its
  // subscriptions go, and no more copies are queued for it. Otherwise it stays offline with
  // `subscriptions` (what the connection last held) until `now` + the interval. A no-op
  // when another connection holds the session now (taken over).
  void detach(const Attachment& attachment, uint32_t expiry_interval,
              std::vector<StoredSubscription> subscriptions, TimePoint now);

  // A persistent session from the store, at start: offline, its subscriptions in the tree,
  // its queue holding `queued` copies, expiring `expiry_interval` after it disconnected
  // (after `now` when the record does not say). False when a subscription does not parse
  // (the record is left out).
  bool restore(const MqttSessionRecord& record, TimePoint now, uint32_t queued = 0);

  // The offline sessions whose expiry has come by `now`, ended and removed: their stored
  // queues and records are the caller's to end. A will of theirs still waiting is due now
  // (take_due_wills).
  std::vector<std::string> take_expired(TimePoint now);

  // The will of the connection of `attachment`, detached from a persistent session, waits
  // out its delay here (MQTT 5 3.1.3.2.2): until `will.due`, or the session's expiry if that
  // comes first [MQTT-3.1.3-9]. Dropped when a new connection resumed the session meanwhile
  // (a takeover without clean start); due at once when the session has ended meanwhile (a
  // takeover with clean start). Resuming the session later cancels it (attach); ending it
  // (clean start, expiry) makes it due at once.
  void defer_will(const Attachment& attachment, PendingWill will);
  // The wills due by `now`, removed, for the caller to publish (mqtt/will_sweep.h).
  std::vector<PendingWill> take_due_wills(TimePoint now);
  // Wills waiting, due or not.
  size_t pending_wills() const;

  // Wakes the online ones of these persistent sessions (SessionSink::stored).
  void stored(const std::vector<std::string>& client_ids);
  // Copies in the queues of these persistent sessions ended (delivered, expired, discarded)
  // or were never committed: one each, a client id named once per copy. The sessions'
  // queues have room for as many more.
  void unkeep(const std::vector<std::string>& client_ids);

  // Subscribes the session of `attachment`; whether it held this filter already (replaced).
  // False and nothing done when that connection no longer holds the session (detached, or
  // taken over: a resumed session keeps its id, and the old connection must not touch it).
  bool subscribe(const Attachment& attachment, std::string_view filter, SubscriptionOptions options,
                 std::optional<uint32_t> identifier);
  // Whether the session held the filter (false, nothing done, as for subscribe).
  bool unsubscribe(const Attachment& attachment, std::string_view filter);
  // Filters session `id` holds.
  size_t subscriptions_of(SubscriberId id) const;

  // Routes `message` to every matching session but `publisher`'s no-local ones, one copy
  // per session and one member of each shared group (the next one in turn with room). A
  // copy at QoS > 0 that does not fit in its session's budget refuses the whole message,
  // queueing none; one at QoS 0 is left out and counted.
  PublishResult publish(const SharedMessage& message, std::optional<SubscriberId> publisher);

  // Sessions attached now.
  size_t sessions() const;

  // The first `limit` sessions attached now (nullopt: all), in client id order, and how
  // many there are. Holds the shared lock while it copies them: publishers go on, and
  // attaching or subscribing waits for as long as copying `limit` sessions takes.
  SessionList snapshot(std::optional<size_t> limit) const;

  // The arrival number of a new message (Message::sequence): increasing, from any thread.
  uint64_t next_sequence() { return sequence_.fetch_add(1, std::memory_order_relaxed) + 1; }

 private:
  using Expiries = std::multimap<TimePoint, std::string>;
  struct Session {
    SessionOrigin origin;
    std::shared_ptr<SessionSink> sink;  // null while a persistent session is offline
    std::shared_ptr<QueueBudget> budget;
    std::shared_ptr<SessionStats> stats;
    // A persistent session's queue in the store (messages only), across its connections.
    std::shared_ptr<QueueBudget> kept;
    size_t subscriptions = 0;
    uint64_t generation = 0;
    uint32_t expiry_interval = 0;                           // > 0: persistent
    std::vector<StoredSubscription> offline_subscriptions;  // while offline
    std::optional<Expiries::iterator> expiry;               // while offline
  };
  struct Copy {
    const Session* session;
    Outgoing outgoing;
  };

  void remove_locked(SubscriberId id);
  void add_kept(const Session& session, const Outgoing& outgoing, PublishResult& result) const;
  bool charge(const Session& session, const Outgoing& outgoing, PublishResult& result,
              std::vector<Copy>& copies, std::vector<QueueBudget*>& kept) const;
  std::shared_ptr<QueueBudget> kept_budget() const;
  const Subscription& pick_member(const SharedMatch& group, const Message& message) const;

  const BrokerLimits limits_;
  mutable std::shared_mutex mutex_;
  TopicTree tree_;
  std::unordered_map<SubscriberId, Session> sessions_;
  // Ordered, so that snapshot() reads the first `limit` sessions without sorting them all.
  std::map<std::string, SubscriberId, std::less<>> by_client_;
  Expiries expiries_;   // offline persistent sessions by when they expire
  PendingWills wills_;  // of offline persistent sessions, and of ended ones not yet published
  SubscriberId next_id_ = 1;
  uint64_t next_generation_ = 1;
  std::atomic<uint64_t> sequence_{0};
};

}  // namespace herald::mqtt
