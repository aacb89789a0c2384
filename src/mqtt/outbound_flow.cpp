#include "mqtt/outbound_flow.h"

#include <algorithm>

namespace herald::mqtt {

OutboundFlow::OutboundFlow(const SessionTerms& terms) : quota_(terms.send_quota) {}

void OutboundFlow::reconnected(const SessionTerms& terms) {
  quota_ = terms.send_quota;
}

std::optional<uint16_t> OutboundFlow::start(QoS qos, Token token) {
  if (qos == QoS::at_most_once || !can_send()) return std::nullopt;
  // The quota is at most 65,535 and each exchange holds one identifier, so a free one is
  // found within as many steps as there are exchanges (herald's max_in_flight, 100 unless
  // an operator raised it).
  while (exchanges_.contains(next_id_)) next_id_ = next_id_ == 65'535 ? 1 : next_id_ + 1;
  const uint16_t id = next_id_;
  next_id_ = next_id_ == 65'535 ? 1 : next_id_ + 1;
  const Stage stage = qos == QoS::at_least_once ? Stage::awaiting_puback : Stage::awaiting_pubrec;
  exchanges_.emplace(id, Exchange{stage, token, started_++});
  return id;
}

bool OutboundFlow::resume(uint16_t packet_id, Token token) {
  if (packet_id == 0 || !can_send() || exchanges_.contains(packet_id)) return false;
  exchanges_.emplace(packet_id, Exchange{Stage::awaiting_pubrec, token, started_++});
  return true;
}

OutboundFlow::Answer OutboundFlow::finish(uint16_t packet_id, bool delivered) {
  const auto found = exchanges_.find(packet_id);
  Answer answer;
  answer.finished = found->second.token;
  answer.delivered = delivered;
  exchanges_.erase(found);
  return answer;
}

OutboundFlow::Answer OutboundFlow::on_puback(uint16_t packet_id, ReasonCode reason) {
  const auto found = exchanges_.find(packet_id);
  if (found == exchanges_.end()) return Answer{.known = false};
  if (found->second.stage != Stage::awaiting_puback) return Answer{.out_of_turn = true};
  return finish(packet_id, !is_failure(reason));
}

OutboundFlow::Answer OutboundFlow::on_pubrec(uint16_t packet_id, ReasonCode reason) {
  const auto found = exchanges_.find(packet_id);
  // An unknown one with an error code ends nothing and needs no PUBREL [MQTT-4.3.3-4].
  if (found == exchanges_.end()) return Answer{.send_pubrel = !is_failure(reason), .known = false};
  if (found->second.stage == Stage::awaiting_puback) return Answer{.out_of_turn = true};
  if (is_failure(reason)) return finish(packet_id, false);
  found->second.stage = Stage::awaiting_pubcomp;  // a repeated PUBREC gets PUBREL again
  return Answer{.send_pubrel = true};
}

OutboundFlow::Answer OutboundFlow::on_pubcomp(uint16_t packet_id) {
  const auto found = exchanges_.find(packet_id);
  if (found == exchanges_.end()) return Answer{.known = false};
  if (found->second.stage != Stage::awaiting_pubcomp) return Answer{.out_of_turn = true};
  return finish(packet_id, true);
}

std::vector<OutboundFlow::Resend> OutboundFlow::to_resend() const {
  std::vector<std::pair<uint64_t, Resend>> ordered;
  for (const auto& [id, exchange] : exchanges_) {
    ordered.push_back(
        {exchange.order, Resend{id, exchange.token, exchange.stage == Stage::awaiting_pubcomp}});
  }
  std::sort(ordered.begin(), ordered.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Resend> out;
  for (auto& [_, resend] : ordered) out.push_back(resend);
  return out;
}

}  // namespace herald::mqtt
