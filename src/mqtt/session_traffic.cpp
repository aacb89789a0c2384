// The Session's application messages: PUBLISHes from the client routed through the broker
// and acknowledged, SUBSCRIBE and UNSUBSCRIBE, and the copies for the client moved from the
// queue to the wire within the flow control the client set.
#include <algorithm>

#include "mqtt/packet_encoder.h"
#include "mqtt/session.h"
#include "mqtt/topic.h"

namespace herald::mqtt {

namespace {

// What a message carries on to its subscribers (MQTT 5 3.3.2.3; the expiry is per copy).
Properties forwarded(const Properties& from) {
  Properties to;
  to.payload_format_indicator = from.payload_format_indicator;
  to.content_type = from.content_type;
  to.response_topic = from.response_topic;
  to.correlation_data = from.correlation_data;
  to.user_properties = from.user_properties;
  return to;
}

ReasonCode granted(QoS qos) {
  return static_cast<ReasonCode>(static_cast<uint8_t>(qos));
}

}  // namespace

std::shared_ptr<Message> Session::make_message(std::string topic, QoS qos, bool retain,
                                               const Properties& properties, std::string payload,
                                               int priority) const {
  // One charge per message, given back when the last subscriber's copy of it goes.
  InFlightBudget* memory = options_.memory;
  const uint64_t size = topic.size() + payload.size();
  if (memory != nullptr && !memory->try_charge(size)) return nullptr;
  std::shared_ptr<Message> message(new Message, [memory, size](const Message* m) {
    if (memory != nullptr) memory->release(size);
    delete m;
  });
  message->topic = std::move(topic);
  message->qos = qos;
  message->retain = retain;
  message->properties = forwarded(properties);
  message->payload = std::move(payload);
  message->priority = priority;
  message->received = clock_.now();
  if (properties.message_expiry_interval) {
    message->expires_at =
        message->received + std::chrono::seconds(*properties.message_expiry_interval);
  }
  message->sequence = broker_->next_sequence();
  message->publisher = client_id();
  return message;
}

// Topics beginning with '$' are the server's ($SYS, $herald): no client publishes there.
std::optional<ReasonCode> Session::refusal_of(const Publish& publish) const {
  if (publish.topic.starts_with('$') || !grant_->may_publish(publish.topic)) {
    return ReasonCode::not_authorized;
  }
  if (!priority_of(publish.properties)) return ReasonCode::implementation_specific_error;
  return std::nullopt;
}

// A message that does not fit in memory is refused as a full queue would be.
PublishResult Session::route(Publish& publish, SharedMessage& message) {
  message = make_message(std::move(publish.topic), publish.qos, publish.retain, publish.properties,
                         std::move(publish.payload), *priority_of(publish.properties));
  if (!message) {
    ++counts_.dropped_qos0;
    return PublishResult{.refused_full = publish.qos != QoS::at_most_once};
  }
  PublishResult result = broker_->publish(message, attachment_->id);
  counts_.dropped_qos0 += result.dropped_qos0;
  return result;
}

void Session::on_publish(Publish& publish) {
  auto step = inbound_->on_publish(publish);
  if (const auto* violation = std::get_if<FlowViolation>(&step)) {
    end(violation->reason, true);
    return;
  }
  switch (std::get<PublishStep>(step)) {
    case PublishStep::answer_again:
      send(Pubrec{.packet_id = publish.packet_id});
      return;
    case PublishStep::already_taking:
      return;
    case PublishStep::store:
      break;
  }
  ++counts_.received;
  const QoS qos = publish.qos;
  const uint16_t packet_id = publish.packet_id;
  std::optional<ReasonCode> reason = refusal_of(publish);
  if (!reason) {
    SharedMessage message;
    PublishResult result = route(publish, message);
    // A retained message is kept whoever subscribes now; answered once on disk.
    if (!result.refused_full && (!result.kept.empty() || message->retain)) {
      keep(message, std::move(result.kept), qos, packet_id);
      return;
    }
    reason = result.refused_full                              ? ReasonCode::quota_exceeded
             : result.copies == 0 && qos != QoS::at_most_once ? ReasonCode::no_matching_subscribers
                                                              : ReasonCode::success;
  }
  acknowledge(qos, packet_id, *reason);
}

// At QoS 0 a refusal has no answer; MQTT 3.1.1 has no error codes, so the connection is
// closed rather than a message acknowledged that was not taken [MQTT-3.3.5-2].
void Session::acknowledge(QoS qos, uint16_t packet_id, ReasonCode reason) {
  if (is_failure(reason)) ++counts_.refused;
  if (qos == QoS::at_most_once) return;
  if (is_failure(reason) && !v5()) {
    end(std::nullopt, true);
    return;
  }
  if (qos == QoS::at_least_once) {
    answer(Puback{.packet_id = packet_id, .reason = reason}, false);
  } else {
    answer(Pubrec{.packet_id = packet_id, .reason = reason}, false);
  }
}

void Session::on_pubrel(const Pubrel& pubrel) {
  const bool known = inbound_->on_pubrel(pubrel.packet_id);
  const Pubcomp pubcomp{
      .packet_id = pubrel.packet_id,
      .reason = known ? ReasonCode::success : ReasonCode::packet_identifier_not_found};
  // A kept mark goes from the disk before PUBCOMP: a mark left behind would make the next
  // PUBLISH with this packet id look like this one sent again.
  if (known && inbound_marks_.erase(pubrel.packet_id) > 0) {
    next_request_.inbound_released.push_back(pubrel.packet_id);
    answer(pubcomp, true);
    return;
  }
  answer(pubcomp, false);
}

void Session::on_subscribe(const Subscribe& subscribe) {
  // MQTT 5 3.8.3.1: no local on a shared subscription is a protocol error.
  for (const TopicSubscription& subscription : subscribe.subscriptions) {
    if (subscription.options.no_local && split_shared_filter(subscription.filter)) {
      end(ReasonCode::protocol_error, true);
      return;
    }
  }
  Suback suback{.packet_id = subscribe.packet_id};
  for (const TopicSubscription& subscription : subscribe.subscriptions) {
    suback.reasons.push_back(subscribe_one(subscription, subscribe.subscription_identifier));
  }
  if (persistent()) write_record();
  answer(std::move(suback), persistent());
}

// The retained messages it matches follow the SUBACK, as retain handling asks (MQTT 5
// 3.8.3.1): always, only for a new subscription, or never; never for a shared subscription
// (MQTT 5 4.8.2).
ReasonCode Session::subscribe_one(const TopicSubscription& subscription,
                                  std::optional<uint32_t> identifier) {
  if (!grant_->may_subscribe(subscription.filter)) return ReasonCode::not_authorized;
  const bool known = subscriptions_.contains(subscription.filter);
  if (!known && subscriptions_.size() >= options_.max_subscriptions) {
    return ReasonCode::quota_exceeded;
  }
  const RetainHandling handling = subscription.options.retain_handling;
  if (!split_shared_filter(subscription.filter) &&
      (handling == RetainHandling::send_on_subscribe ||
       (handling == RetainHandling::send_if_new_subscription && !known))) {
    retained_reads_.push_back(RetainedRead{.filter = subscription.filter,
                                           .max_qos = subscription.options.max_qos,
                                           .identifier = identifier});
  }
  broker_->subscribe(*attachment_, subscription.filter, subscription.options, identifier);
  subscriptions_[subscription.filter] =
      StoredSubscription{.filter = subscription.filter,
                         .options = stored_options(subscription.options),
                         .identifier = identifier};
  return granted(subscription.options.max_qos);
}

void Session::on_unsubscribe(const Unsubscribe& unsubscribe) {
  Unsuback unsuback{.packet_id = unsubscribe.packet_id};
  for (const std::string& filter : unsubscribe.filters) {
    const bool held = broker_->unsubscribe(*attachment_, filter);
    subscriptions_.erase(filter);
    unsuback.reasons.push_back(held ? ReasonCode::success : ReasonCode::no_subscription_existed);
  }
  if (persistent()) write_record();
  answer(std::move(unsuback), persistent());
}

void Session::on_delivery(Outgoing outgoing) {
  if (phase_ != Phase::connected) return;  // the budget went with the attachment
  // A subscription may overlap a deny filter ("#" beside "test/nosubscribe"): what lies in
  // it never reaches the client, whoever put it there.
  if (!grant_->may_receive(outgoing.message->topic)) {
    attachment_->budget->release(outgoing.message->size());
    ++counts_.withheld;
    return;
  }
  queue_.push(std::move(outgoing));
  pump();
}

// Copies leave the queue while the client reads what it is sent and, at QoS > 0, while its
// Receive Maximum leaves room [MQTT-4.9.0-2]; QoS 0 copies wait behind a full window too, so
// that the order of one priority is kept.
void Session::pump() {
  std::vector<Outgoing> expired;
  // Nothing goes before the CONNACK, which a persistent session sends once on disk.
  const bool connack_waits = !answers_.empty() && answers_.front().barrier;
  while (phase_ == Phase::connected && !connack_waits && output_.size() < kOutputHighWater &&
         !queue_.empty() && outbound_->can_send()) {
    std::optional<Outgoing> next = queue_.pop(clock_.now(), expired);
    if (!next) break;
    if (next->stored && next->qos == QoS::exactly_once) {
      start_stored_qos2(std::move(*next));
      continue;
    }
    std::optional<uint16_t> packet_id;
    if (next->qos != QoS::at_most_once) {
      const OutboundFlow::Token token = next_token_++;
      packet_id = outbound_->start(next->qos, token);
      in_flight_.emplace(token, InFlight{next->message->size(), next->stored});
    }
    emit(std::move(*next), packet_id);
  }
  for (const Outgoing& gone : expired) {
    if (gone.stored) {
      finish_stored(gone.stored, false);
    } else {
      attachment_->budget->release(gone.message->size());
    }
  }
  counts_.expired += expired.size();
  update_stats();
}

void Session::send_copy(Outgoing& outgoing, std::optional<uint16_t> packet_id, bool dup) {
  const Message& message = *outgoing.message;
  Publish head{.dup = dup, .qos = outgoing.qos, .retain = outgoing.retain, .topic = message.topic};
  head.packet_id = packet_id.value_or(0);
  if (v5()) {
    head.properties = message.properties;
    head.properties.subscription_identifiers = outgoing.identifiers;
    if (message.expires_at) {
      const auto left = std::chrono::ceil<std::chrono::seconds>(*message.expires_at - clock_.now());
      head.properties.message_expiry_interval =
          static_cast<uint32_t>(std::max<int64_t>(left.count(), 1));
    }
    aliases_->apply(head);
  }
  const size_t before = output_.size();
  append_publish(output_, head, message.payload, terms_->version);
  // MQTT 5 3.1.2.11.4 [MQTT-3.1.2-25]: a packet larger than the client takes is not sent,
  // and the copy counts as delivered.
  if (terms_->client_maximum_packet_size &&
      output_.size() - before > *terms_->client_maximum_packet_size) {
    output_.resize(before);
    if (packet_id) finish_exchange(outbound_->drop(*packet_id));
    return;
  }
  ++counts_.sent;
}

void Session::on_puback(const Puback& puback) {
  finish_exchange(outbound_->on_puback(puback.packet_id, puback.reason));
}

void Session::on_pubrec(const Pubrec& pubrec) {
  const OutboundFlow::Answer answer = outbound_->on_pubrec(pubrec.packet_id, pubrec.reason);
  if (answer.out_of_turn) {
    end(ReasonCode::protocol_error, true);
    return;
  }
  if (answer.send_pubrel) {
    send(Pubrel{
        .packet_id = pubrec.packet_id,
        .reason = answer.known ? ReasonCode::success : ReasonCode::packet_identifier_not_found});
  }
  finish_exchange(answer);
}

void Session::on_pubcomp(const Pubcomp& pubcomp) {
  finish_exchange(outbound_->on_pubcomp(pubcomp.packet_id));
}

// An unknown identifier is let pass (a late duplicate); one answered out of turn ends the
// connection.
void Session::finish_exchange(const OutboundFlow::Answer& answer) {
  if (answer.out_of_turn) {
    end(ReasonCode::protocol_error, true);
    return;
  }
  if (!answer.finished) return;
  const auto it = in_flight_.find(*answer.finished);
  if (it == in_flight_.end()) return;
  if (it->second.stored) {
    // A refusal (PUBACK 0x80 and up) ends the exchange too [MQTT-4.3.2-5]: the copy counts as
    // handed over, as the spec has it, and is not sent again.
    finish_stored(it->second.stored, true);
  } else {
    attachment_->budget->release(it->second.size);
  }
  in_flight_.erase(it);
  update_stats();
}

// The window changes only where copies start (pump) and where exchanges end (here): the two
// places that call this.
void Session::update_stats() {
  if (attachment_) {
    attachment_->stats->in_flight.store(static_cast<uint32_t>(outbound_->in_flight()),
                                        std::memory_order_relaxed);
  }
}

}  // namespace herald::mqtt
