// What herald keeps of the QoS 1 and 2 PUBLISHes it has sent on one connection until the
// client has answered them (MQTT 5 4.3, 4.4, 4.9): their packet identifiers, the send quota
// (SessionTerms::send_quota: the client's Receive Maximum, at most herald's max_in_flight), and
// where each QoS 2 exchange stands. Each PUBLISH carries the caller's token (what it came from in
// the session's queue), given back when the exchange ends, so that the delivery is recorded only
// then.
//
// Memory is at most send_quota exchanges. Not thread-safe: one per connection
// (and kept with the session, to resend on a reconnect).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "mqtt/connect_terms.h"
#include "mqtt/packet.h"

namespace herald::mqtt {

class OutboundFlow {
 public:
  using Token = uint64_t;

  explicit OutboundFlow(const SessionTerms& terms);

  // Whether one more QoS 1 or 2 PUBLISH may be sent now (MQTT 5 4.9 [MQTT-4.9.0-2]).
  bool can_send() const { return exchanges_.size() < quota_; }

  // Starts the exchange of a QoS 1 or 2 PUBLISH for `token`: the packet identifier to send
  // it with (one not in use), or nullopt when can_send() is false.
  std::optional<uint16_t> start(QoS qos, Token token);
  // Starts again, under `packet_id`, a QoS 2 exchange a persistent session began before a
  // restart (the store kept the id): false, nothing started, when the quota is full or the
  // id is taken on this connection.
  bool resume(uint16_t packet_id, Token token);

  // How an answer from the client ends or moves an exchange.
  struct Answer {
    std::optional<Token> finished;  // the exchange is over: its token
    bool delivered = false;         // over with success (PUBACK or PUBCOMP, not an error)
    bool send_pubrel = false;       // PUBREC received: PUBREL next (0x92 if unknown)
    bool known = true;              // false: no exchange had this identifier
    // An exchange has this identifier but is not waiting for this answer (a PUBACK to a
    // QoS 2 PUBLISH, PUBREC to QoS 1, PUBCOMP before PUBREC): a protocol error, as
    // Mosquitto's tests have it; the exchange is left as it was.
    bool out_of_turn = false;
  };

  Answer on_puback(uint16_t packet_id, ReasonCode reason);
  // A PUBREC with an error code (0x80 or more) ends the exchange [MQTT-4.3.3-4]; otherwise
  // PUBREL is sent, also for an identifier herald does not know (with 0x92, MQTT 5 3.6.2.1)
  // unless that PUBREC carries an error code.
  Answer on_pubrec(uint16_t packet_id, ReasonCode reason);
  Answer on_pubcomp(uint16_t packet_id);
  // Ends an exchange herald gave up before sending its PUBLISH (a packet larger than the
  // client takes, MQTT 5 [MQTT-3.1.2-25]): finished, as delivered.
  Answer drop(uint16_t packet_id) { return finish(packet_id, true); }

  // What to send again on a new connection of the same session, in the order first sent
  // (MQTT 5 4.4 [MQTT-4.4.0-1]): PUBLISHes unanswered (with DUP set) and PUBRELs.
  struct Resend {
    uint16_t packet_id = 0;
    Token token = 0;
    bool pubrel = false;  // false: the PUBLISH again

    bool operator==(const Resend&) const = default;
  };
  std::vector<Resend> to_resend() const;

  // A new connection: the quota its CONNACK terms allow (the exchanges carry over).
  void reconnected(const SessionTerms& terms);

  size_t in_flight() const { return exchanges_.size(); }

 private:
  enum class Stage { awaiting_puback, awaiting_pubrec, awaiting_pubcomp };
  struct Exchange {
    Stage stage;
    Token token;
    uint64_t order;  // when it started, for resending in order
  };

  Answer finish(uint16_t packet_id, bool delivered);

  size_t quota_;
  uint16_t next_id_ = 1;
  uint64_t started_ = 0;
  std::map<uint16_t, Exchange> exchanges_;  // by packet identifier
};

}  // namespace herald::mqtt
