#include "mqtt/inbound_flow.h"

#include <fmt/format.h>

namespace herald::mqtt {

InboundFlow::InboundFlow(const SessionTerms& terms) : terms_(terms) {}

std::optional<FlowViolation> InboundFlow::resolve_alias(Publish& publish) {
  const std::optional<uint16_t> alias = publish.properties.topic_alias;
  if (!alias) return std::nullopt;
  publish.properties.topic_alias.reset();
  // [MQTT-3.3.2-9]: the decoder has refused 0; the maximum is herald's, from the CONNACK.
  if (*alias > terms_.server_topic_alias_maximum) {
    return FlowViolation{ReasonCode::topic_alias_invalid,
                         fmt::format("topic alias {} is over the maximum of {}", *alias,
                                     terms_.server_topic_alias_maximum)};
  }
  if (!publish.topic.empty()) {
    aliases_[*alias] = publish.topic;
    return std::nullopt;
  }
  const auto known = aliases_.find(*alias);
  if (known == aliases_.end()) {
    return FlowViolation{ReasonCode::protocol_error,
                         fmt::format("topic alias {} was never set on this connection", *alias)};
  }
  publish.topic = known->second;
  return std::nullopt;
}

std::variant<PublishStep, FlowViolation> InboundFlow::on_publish(Publish& publish) {
  if (auto violation = resolve_alias(publish)) return std::move(*violation);
  if (publish.qos == QoS::at_most_once) return PublishStep::store;
  const auto held = states_.find(publish.packet_id);
  if (held != states_.end()) {
    switch (held->second) {
      case State::awaiting_pubrel:
        // MQTT 5 4.3.3 [MQTT-4.3.3-10]: PUBREC again, and no second onward delivery.
        if (publish.qos == QoS::exactly_once) return PublishStep::answer_again;
        return FlowViolation{ReasonCode::packet_identifier_in_use,
                             fmt::format("QoS 1 PUBLISH with packet identifier {}, which a QoS 2 "
                                         "exchange still holds",
                                         publish.packet_id)};
      case State::storing_qos1:
      case State::storing_qos2:
        return PublishStep::already_taking;
    }
  }
  // MQTT 5 3.3.4 [MQTT-3.3.4-9]: past the Receive Maximum herald sent in the CONNACK.
  if (states_.size() >= terms_.server_receive_maximum) {
    return FlowViolation{ReasonCode::receive_maximum_exceeded,
                         fmt::format("more than {} QoS 1 and 2 PUBLISHes unanswered",
                                     terms_.server_receive_maximum)};
  }
  states_[publish.packet_id] =
      publish.qos == QoS::at_least_once ? State::storing_qos1 : State::storing_qos2;
  return PublishStep::store;
}

void InboundFlow::acknowledged(uint16_t packet_id, bool success) {
  const auto held = states_.find(packet_id);
  if (held == states_.end()) return;
  // MQTT 5 4.9: a PUBACK, or a PUBREC with an error code, ends the exchange.
  if (held->second == State::storing_qos2 && success) {
    held->second = State::awaiting_pubrel;
  } else {
    states_.erase(held);
  }
}

bool InboundFlow::on_pubrel(uint16_t packet_id) {
  const auto held = states_.find(packet_id);
  if (held == states_.end() || held->second != State::awaiting_pubrel) return false;
  states_.erase(held);
  return true;
}

}  // namespace herald::mqtt
