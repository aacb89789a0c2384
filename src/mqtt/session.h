// The server side of one MQTT connection (MQTT 5.0 and 3.1.1) as a state machine without
// I/O: it takes the bytes the client sends and what happens around the connection (the
// login checked, a copy delivered by the broker, a timer run out), and says what to write
// and what the connection must do next. Every packet type is one row of a table
// (session.cpp): whether it may come now and its handler.
//
// What each answer promises, as an interface: a PUBACK/PUBREC success means the message was
// routed to every session that subscribed and, when a persistent session (session expiry >
// 0) takes it at QoS > 0, committed to the store with fsync first (its copies there are
// that session's queue); a refusal names its reason (0x87 not authorized, 0x97 a
// subscriber's queue is full, 0x10 no subscribers, 0x80 the store failed), and MQTT 3.1.1,
// which has no reason codes, gets the connection closed instead of a success it cannot back
// [MQTT-3.3.5-2]. A persistent session's CONNACK, SUBACK and UNSUBACK likewise come after its
// record is on disk, and the PUBCOMP of a kept QoS 2 PUBLISH after its mark is gone.
//
// The store is asked through take_store_request() / on_stored() (mqtt/session_store.h), one
// request at a time; while answers wait for it, PUBLISHes go on being taken (their answers
// queue behind, in order [MQTT-4.6.0-2]) and any other packet waits.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "mqtt/access_policy.h"
#include "mqtt/broker.h"
#include "mqtt/connect_terms.h"
#include "mqtt/inbound_flow.h"
#include "mqtt/outbound_aliases.h"
#include "mqtt/outbound_flow.h"
#include "mqtt/packet_decoder.h"
#include "mqtt/session_queue.h"
#include "mqtt/session_store.h"
#include "smtp/in_flight_budget.h"
#include "util/clock.h"

namespace herald::mqtt {

struct SessionOptions {
  ServerTerms terms;
  DecoderLimits limits;              // packet size and topic limits of what the client sends
  uint32_t max_subscriptions = 100;  // filters per session; SUBACK 0x97 past it
  uint32_t oldest_every = 8;         // SessionQueue's oldest-first share
  // What all sessions hold in memory ([mqtt] max_bytes_in_flight): each message routed
  // (once, however many subscribers share it) and each packet partly read. Must outlive
  // every session and every message; null: not counted (tests).
  InFlightBudget* memory = nullptr;
};

// What the client presented in its CONNECT, for the connection to check off the io threads
// (AccessPolicy::login is slow by design), then hand back to on_login().
struct Credentials {
  std::optional<std::string> username;
  std::optional<std::string> password;
};

// Counts the connection reports when it ends (the log line of the session).
struct SessionCounts {
  uint64_t received = 0;      // PUBLISHes taken from the client
  uint64_t sent = 0;          // copies written to the client
  uint64_t refused = 0;       // PUBLISHes answered with an error code, or dropped at QoS 0
  uint64_t expired = 0;       // copies that outlived their expiry in the queue
  uint64_t dropped_qos0 = 0;  // QoS 0 copies a full subscriber queue left out
  uint64_t withheld = 0;      // copies on topics this client may not receive (deny filters)
};

// Not thread-safe: one session belongs to one connection and runs on its strand. `options`
// and `clock` must outlive it; it shares `broker` (a connection's frame may outlive the
// daemon's wiring at shutdown, and detaches on its way out); `sink` is what the broker
// delivers this session's copies to (the connection, which hands them to on_delivery() on
// its strand); `peer`, the connection's "ip:port", it only passes on to the broker (for
// `herald mqtt sessions`).
class Session {
 public:
  // Output the client has not read yet past which the session stops handling its packets
  // (each of which may add a reply) and stops moving copies from its queue.
  static constexpr size_t kOutputHighWater = 64 * 1024;

  Session(const SessionOptions& options, std::shared_ptr<Broker> broker, const Clock& clock,
          std::shared_ptr<SessionSink> sink, std::string peer);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Bytes read from the client. Packets are handled as they complete, until one needs the
  // login checked (credentials_to_check()) or the session ends; the rest stays buffered
  // and is handled after on_login().
  void on_bytes(std::string_view bytes);

  // The CONNECT's credentials, checked. Sends the CONNACK (success, or the refusal and then
  // the end), then goes on with what was buffered.
  void on_login(const LoginResult& result);

  // A copy from the broker (SessionSink::deliver, moved onto the connection's strand).
  void on_delivery(Outgoing outgoing);

  // The connection's end, each with its reason: DISCONNECT 0x8E, 0x8D, 0x8B, or none for a
  // connection that broke. Each publishes the will (MQTT 5 3.1.2.5; a persistent session's
  // after its Will Delay Interval, through the broker) and ends the session.
  void on_taken_over();
  void on_keep_alive_expired();
  void on_server_shutdown();
  void on_connection_lost();

  // The store (session_keeping.cpp). The next request, when none is out and there is
  // something to ask; the connection runs it (StoreWorker, off the io threads) and hands the
  // result to on_stored(). Ask after every call into the session, after the end too: an
  // ended persistent session still has its record to write.
  std::optional<StoreRequest> take_store_request();
  void on_stored(StoreResult result);
  // SessionSink::stored, moved onto the strand: copies were committed to this session's
  // queue in the store.
  void on_queue_stored();

  // Set while the CONNECT waits for its login check; cleared by on_login().
  const std::optional<Credentials>& credentials_to_check() const { return credentials_; }

  // Bytes to write, in order; the connection writes them all, then calls take_output()
  // again (more may have come from a pump of the queue).
  std::string take_output();
  bool has_output() const { return !output_.empty(); }
  // Write what is left, then close the connection; nothing more is read or handled.
  bool ended() const { return ended_; }
  // Whether the connection should read more now: not while a login is checked, not after
  // the end, and not while the client leaves a backlog of output unread (a client that
  // sends PINGREQs and never reads must not grow herald's buffers).
  bool wants_input() const;
  // Whether the session expiry outlasts the connection (the store keeps the session).
  bool persistent() const { return expiry_interval_ > 0; }

  // 0: none. The connection closes one and a half times this after the last packet read.
  std::chrono::seconds keep_alive() const;
  bool connected() const { return attachment_.has_value(); }
  const std::string& client_id() const;
  const SessionCounts& counts() const { return counts_; }
  // Complete packets read from the client so far: what keeps the connection alive (MQTT 5
  // 3.1.2.10 counts packets, not bytes, so a client trickling one never ends it).
  uint64_t packets_read() const { return packets_read_; }

 private:
  enum class Phase { awaiting_connect, awaiting_login, connected, ended };

  void handle_buffered();
  void handle(Packet& packet);
  void on_connect(Connect& connect);
  void on_publish(Publish& publish);
  void on_pubrel(const Pubrel& pubrel);
  void on_puback(const Puback& puback);
  void on_pubrec(const Pubrec& pubrec);
  void on_pubcomp(const Pubcomp& pubcomp);
  void on_subscribe(const Subscribe& subscribe);
  void on_unsubscribe(const Unsubscribe& unsubscribe);
  void on_disconnect(const Disconnect& disconnect);
  void on_decode_error(const DecodeError& error);

  // Inbound PUBLISH steps.
  std::optional<ReasonCode> refusal_of(const Publish& publish) const;
  PublishResult route(Publish& publish, SharedMessage& message);
  void acknowledge(QoS qos, uint16_t packet_id, ReasonCode reason);
  void keep(const SharedMessage& message, std::vector<KeptCopy> copies, QoS qos,
            uint16_t packet_id);
  ReasonCode subscribe_one(const TopicSubscription& subscription,
                           std::optional<uint32_t> identifier);

  // Outbound copies.
  void pump();
  void send_copy(Outgoing& outgoing, std::optional<uint16_t> packet_id, bool dup = false);
  void start_stored_qos2(Outgoing copy);
  // Sends the copy, or, behind a QoS 2 copy waiting for its packet id to be on disk, queues
  // it there, so that the order the queue gave stays the order on the wire.
  void emit(Outgoing copy, std::optional<uint16_t> packet_id, bool dup = false);
  void finish_exchange(const OutboundFlow::Answer& answer);
  void update_stats();

  void charge_input();
  // Null when options_.memory has no room for it. Not shared yet: a will's is stamped later
  // (mqtt/pending_wills.h).
  std::shared_ptr<Message> make_message(std::string topic, QoS qos, bool retain,
                                        const Properties& properties, std::string payload,
                                        int priority) const;

  // The store (session_keeping.cpp).
  // A packet to send once the request gathering now has been done (`after_store`), or once
  // the answers before it have gone.
  void answer(Packet packet, bool after_store, bool barrier = false,
              std::optional<size_t> publish = std::nullopt);
  void name_message(Packet& packet, const std::string& message_id) const;
  void send_ready_answers();
  void answer_failed(Packet& packet);
  // Whether the next decoded packet must wait for the answers before it: every packet but a
  // PUBLISH does, and a PUBLISH too behind a barrier (a resumed session's CONNACK).
  bool must_wait(const Packet& packet) const;
  void connect_persistent(Connack connack);
  void write_record();
  MqttSessionRecord session_record(std::optional<TimePoint> disconnected_at) const;
  std::vector<StoredSubscription> stored_subscriptions() const;
  void finish_stored(const std::shared_ptr<const Delivery>& stored, bool delivered);
  void detach_from_broker();

  // Ending: the will (session_will.cpp). After detaching, with the attachment still set:
  // publishes will_ now, or leaves it with the broker to wait out its delay.
  void leave_will();
  // will_ as a message, its charge moved onto it (will_ is spent); null when it does not fit.
  std::shared_ptr<Message> will_message();
  // Routes it; what the store takes goes with the session's last request.
  void publish_will_message(const SharedMessage& message);
  void end(std::optional<ReasonCode> disconnect_reason, bool publish_will);
  void send(const Packet& packet);
  void refuse_connect(ReasonCode reason);
  bool v5() const;

  const SessionOptions& options_;
  const std::shared_ptr<Broker> broker_;
  const Clock& clock_;
  std::shared_ptr<SessionSink> sink_;
  const std::string peer_;
  PacketDecoder decoder_;
  Phase phase_ = Phase::awaiting_connect;
  std::optional<Credentials> credentials_;
  // Held apart (a connection holds none of them once connected, but the will): an idle
  // session of a hundred thousand costs their size only when it has them.
  std::unique_ptr<Connect> connect_;          // while the login is checked
  std::unique_ptr<Connack> pending_connack_;  // what settle_connect() said, sent after the login
  std::unique_ptr<Will> will_;                // from the login to the end
  // What the session subscribes to: the limit counts them, a persistent session's record
  // keeps them.
  std::map<std::string, StoredSubscription> subscriptions_;
  std::optional<SessionTerms> terms_;
  bool session_expiry_was_zero_ = true;  // the CONNECT asked for none [MQTT-3.14.2-2]
  std::shared_ptr<const Grant> grant_;
  std::optional<Broker::Attachment> attachment_;
  std::optional<InboundFlow> inbound_;
  std::optional<OutboundFlow> outbound_;
  std::optional<OutboundAliases> aliases_;
  SessionQueue queue_;
  // Copies sent at QoS > 0 and not yet answered, by their OutboundFlow token: what each
  // holds of the budget, and its delivery when it came from the store.
  struct InFlight {
    uint64_t size = 0;
    std::shared_ptr<const Delivery> stored;
  };
  std::unordered_map<OutboundFlow::Token, InFlight> in_flight_;
  OutboundFlow::Token next_token_ = 1;
  std::string output_;
  InFlightCharge input_charge_;  // what the decoder holds of a packet not complete yet
  InFlightCharge will_charge_;   // what will_ holds
  uint64_t packets_read_ = 0;
  bool ended_ = false;
  SessionCounts counts_;

  // The store.
  uint32_t expiry_interval_ = 0;  // as settled, then as a DISCONNECT changes it
  StoreRequest next_request_;     // gathering
  bool request_out_ = false;
  uint64_t requests_sent_ = 0;  // the next request gathering is number requests_sent_ + 1
  uint64_t requests_done_ = 0;
  struct Answer {
    Packet packet;
    uint64_t request = 0;  // sent once request number `request` is done (0: none)
    bool barrier = false;  // no packet is taken while it waits
    // The answer to the request's PublishToKeep of this index: it gets the message id.
    std::optional<size_t> publish;
  };
  std::deque<Answer> answers_;
  std::unique_ptr<Packet> held_;       // the packet that waits for answers_ to go
  std::set<uint16_t> inbound_marks_;   // kept QoS 2 PUBLISHes awaiting PUBREL, by packet id
  std::set<DeliveryKey> stored_held_;  // stored copies queued or in flight
  // Stored QoS 2 copies whose packet id goes to the store before they are sent, and the
  // copies popped after them.
  struct AwaitingId {
    Outgoing copy;
    std::optional<uint16_t> packet_id;
    bool dup = false;
    uint64_t request = 0;  // sent once it is done
  };
  std::deque<AwaitingId> awaiting_id_;
  bool read_wanted_ = false;                  // read the queue in the store when there is room
  std::deque<RetainedRead> retained_reads_;   // what new subscriptions have still to get
  bool read_out_ = false;                     // the request out reads the queue
  std::optional<RetainedRead> retained_out_;  // the retained read of the request out
  bool store_has_more_ = false;               // the last read stopped at its limit
};

}  // namespace herald::mqtt
