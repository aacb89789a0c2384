// What herald keeps of one connection's PUBLISHes from the client until it has answered
// them (MQTT 5 4.3, 4.4, 4.9; 3.3.2.3.4 for topic aliases): the topic aliases the client
// set, the QoS 1 and 2 PUBLISHes taken and not yet acknowledged (herald acknowledges only
// once a message is stored), and the QoS 2 packet identifiers between PUBREC and PUBREL,
// which make a resent PUBLISH a duplicate and not a second message (exactly once).
//
// Memory is bounded by the terms: at most server_receive_maximum unanswered PUBLISHes and
// server_topic_alias_maximum aliases, each topic no longer than the decoder allows.
// Not thread-safe: one per connection.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <variant>

#include "mqtt/connect_terms.h"
#include "mqtt/packet.h"

namespace herald::mqtt {

// What to do with a PUBLISH the flow let through.
enum class PublishStep {
  store,           // a new message: store it, then acknowledge (acknowledged())
  answer_again,    // a QoS 2 resend of one already stored: PUBREC again, nothing stored
  already_taking,  // a resend of one still being stored: its acknowledgement will come
};

// The connection must end: DISCONNECT with `reason` (MQTT 5; 3.1.1 closes it).
struct FlowViolation {
  ReasonCode reason = ReasonCode::protocol_error;
  std::string message;

  bool operator==(const FlowViolation&) const = default;
};

class InboundFlow {
 public:
  explicit InboundFlow(const SessionTerms& terms);

  // A PUBLISH from the client. Resolves its topic alias (MQTT 5: an alias with a topic sets
  // it, an alias alone uses it), so that publish.topic is the topic after this; checks the
  // receive maximum (0x93) and the alias maximum (0x94). The alias is taken off: aliases
  // belong to one connection and are never passed on.
  std::variant<PublishStep, FlowViolation> on_publish(Publish& publish);

  // herald has sent the acknowledgement of a stored QoS 1 or 2 PUBLISH (PUBACK, or PUBREC);
  // a QoS 1 one stops counting against the receive maximum, a QoS 2 one waits for PUBREL.
  // One that failed to be stored is acknowledged with an error code and forgotten.
  void acknowledged(uint16_t packet_id, bool success);

  // A PUBREL from the client: whether the packet identifier was waiting for it, and is now
  // released (PUBCOMP success); else PUBCOMP 0x92, packet identifier not found.
  bool on_pubrel(uint16_t packet_id);

  // A resumed session's QoS 2 PUBLISH the store kept and answered with PUBREC before the
  // connection (or the server) went: it waits for its PUBREL, and the same packet id sent
  // again is not a new message.
  void resume_awaiting_pubrel(uint16_t packet_id) { states_[packet_id] = State::awaiting_pubrel; }

  // QoS 1 and 2 PUBLISHes counting against the receive maximum.
  size_t unanswered() const { return states_.size(); }

 private:
  enum class State { storing_qos1, storing_qos2, awaiting_pubrel };

  std::optional<FlowViolation> resolve_alias(Publish& publish);

  const SessionTerms terms_;
  std::unordered_map<uint16_t, State> states_;         // by packet identifier
  std::unordered_map<uint16_t, std::string> aliases_;  // alias → topic
};

}  // namespace herald::mqtt
