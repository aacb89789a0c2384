// The Session and the store: a persistent session's record, the PUBLISHes kept before they
// are answered, the answers that wait for the disk (in the order their packets came), and
// the session's queue read from the store a window at a time.
#include <algorithm>

#include "mqtt/packet_encoder.h"
#include "mqtt/session.h"

namespace herald::mqtt {

namespace {

// Stored copies a session holds in memory at once (queued and in flight): what one read of
// its queue in the store brings at most.
constexpr size_t kStoredWindow = 64;

template <typename T>
bool holds(const Packet& packet) {
  return std::holds_alternative<T>(packet);
}

}  // namespace

void Session::keep(const SharedMessage& message, std::vector<KeptCopy> copies, QoS qos,
                   uint16_t packet_id) {
  PublishToKeep publish{.message = message, .copies = std::move(copies)};
  if (qos == QoS::exactly_once && persistent()) {
    publish.inbound_mark = packet_id;
    inbound_marks_.insert(packet_id);
  }
  next_request_.publishes.push_back(std::move(publish));
  const size_t index = next_request_.publishes.size() - 1;
  if (qos == QoS::at_least_once) {
    answer(Puback{.packet_id = packet_id}, true, false, index);
  } else if (qos == QoS::exactly_once) {
    answer(Pubrec{.packet_id = packet_id}, true, false, index);
  }
}

void Session::answer(Packet packet, bool after_store, bool barrier, std::optional<size_t> publish) {
  const uint64_t request = after_store ? requests_sent_ + 1 : 0;
  if (request == 0 && answers_.empty()) {
    answers_.push_back(Answer{std::move(packet)});
    send_ready_answers();
    return;
  }
  answers_.push_back(Answer{std::move(packet), request, barrier, publish});
}

// MQTT 5: the PUBACK or PUBREC of a kept message names it (user property "message-id"), the
// id `herald trace` takes, unless the client asked for no problem information (which also
// forbids user properties on acknowledgements [MQTT-3.1.2-29]) or the packet would outgrow
// what the client takes.
void Session::name_message(Packet& packet, const std::string& message_id) const {
  if (!v5() || !terms_->request_problem_information) return;
  const auto named = [&](auto& ack) {
    ack.properties.user_properties.emplace_back("message-id", message_id);
    if (terms_->client_maximum_packet_size &&
        encode_packet(Packet(ack), terms_->version).size() > *terms_->client_maximum_packet_size) {
      ack.properties.user_properties.clear();
    }
  };
  if (auto* puback = std::get_if<Puback>(&packet)) named(*puback);
  if (auto* pubrec = std::get_if<Pubrec>(&packet)) named(*pubrec);
}

// In order: an answer waits for the store, and every answer behind it waits with it.
void Session::send_ready_answers() {
  while (!answers_.empty() && answers_.front().request <= requests_done_ && !ended_) {
    Answer next = std::move(answers_.front());
    answers_.pop_front();
    if (const auto* puback = std::get_if<Puback>(&next.packet)) {
      inbound_->acknowledged(puback->packet_id, !is_failure(puback->reason));
    } else if (const auto* pubrec = std::get_if<Pubrec>(&next.packet)) {
      inbound_->acknowledged(pubrec->packet_id, !is_failure(pubrec->reason));
    }
    if (const auto* connack = std::get_if<Connack>(&next.packet)) {
      // [MQTT-3.1.2-24]: nothing larger than the client takes, the CONNACK included.
      const std::string bytes = encode_packet(*connack, terms_->version);
      if (terms_->client_maximum_packet_size &&
          bytes.size() > *terms_->client_maximum_packet_size) {
        end(std::nullopt, false);
        return;
      }
      output_ += bytes;
      continue;
    }
    send(next.packet);
  }
}

// The store failed the request these answers waited for (nothing of it was written). A
// PUBLISH is refused with 0x80; anything else cannot be taken back (the broker holds the
// subscription already), so the connection ends and the client tries again.
void Session::answer_failed(Packet& packet) {
  if (auto* puback = std::get_if<Puback>(&packet)) {
    puback->reason = ReasonCode::unspecified_error;
    inbound_marks_.erase(puback->packet_id);
  } else if (auto* pubrec = std::get_if<Pubrec>(&packet)) {
    pubrec->reason = ReasonCode::unspecified_error;
    inbound_marks_.erase(pubrec->packet_id);
  }
}

bool Session::must_wait(const Packet& packet) const {
  if (answers_.empty()) return false;
  if (answers_.front().barrier) return true;
  return !holds<Publish>(packet);
}

std::optional<StoreRequest> Session::take_store_request() {
  if (request_out_) return std::nullopt;
  if (read_wanted_ && phase_ == Phase::connected && persistent() &&
      stored_held_.size() < kStoredWindow && !next_request_.read) {
    read_wanted_ = false;
    next_request_.read = QueueRead{.limit = kStoredWindow - stored_held_.size(),
                                   .skip = {stored_held_.begin(), stored_held_.end()}};
  }
  if (!retained_reads_.empty() && phase_ == Phase::connected && !next_request_.retained &&
      queue_.size() < kStoredWindow) {
    next_request_.retained = std::move(retained_reads_.front());
    retained_reads_.pop_front();
  }
  if (next_request_.empty()) return std::nullopt;
  StoreRequest request = std::move(next_request_);
  next_request_ = StoreRequest{};
  request.client_id = client_id();
  if (grant_) request.username = grant_->username();
  request.peer = peer_;
  request_out_ = true;
  read_out_ = request.read.has_value();
  retained_out_ = request.retained;
  ++requests_sent_;
  return request;
}

void Session::on_stored(StoreResult result) {
  request_out_ = false;
  ++requests_done_;
  if (!result.ok) {
    bool ends = !v5();
    for (Answer& waiting : answers_) {
      if (waiting.request != requests_done_) continue;
      answer_failed(waiting.packet);
      if (!holds<Puback>(waiting.packet) && !holds<Pubrec>(waiting.packet)) ends = true;
    }
    // A QoS 2 copy whose packet id is not on disk is not sent.
    if (!awaiting_id_.empty() && awaiting_id_.front().request == requests_done_) ends = true;
    if (ends) {
      end(ReasonCode::unspecified_error, true);
      return;
    }
  }
  for (Answer& waiting : answers_) {
    if (result.ok && waiting.request == requests_done_ && waiting.publish &&
        *waiting.publish < result.message_ids.size()) {
      name_message(waiting.packet, result.message_ids[*waiting.publish]);
    }
  }
  for (const MqttInboundMark& mark : result.inbound) {
    inbound_->resume_awaiting_pubrel(mark.packet_id);
    inbound_marks_.insert(mark.packet_id);
  }
  for (Outgoing& copy : result.copies) {
    if (copy.stored) {
      stored_held_.insert(copy.stored->key());
    } else if (!attachment_ || !attachment_->budget->try_charge(copy.message->size())) {
      ++counts_.dropped_qos0;  // a retained copy with no room in the session's queue
      continue;
    }
    queue_.push(std::move(copy));
  }
  if (read_out_) {
    store_has_more_ = result.more;
    if (result.more) read_wanted_ = true;  // never cleared here: a wake may have come meanwhile
  }
  read_out_ = false;
  if (retained_out_ && result.retained_after) {
    retained_out_->after = std::move(*result.retained_after);
    retained_reads_.push_front(std::move(*retained_out_));
  }
  retained_out_.reset();
  send_ready_answers();
  while (phase_ == Phase::connected && !awaiting_id_.empty() &&
         awaiting_id_.front().request <= requests_done_) {
    AwaitingId& next = awaiting_id_.front();
    send_copy(next.copy, next.packet_id, next.dup);
    if (!next.packet_id) attachment_->budget->release(next.copy.message->size());
    awaiting_id_.pop_front();
  }
  handle_buffered();
}

// A stored copy at QoS 2 is one exchange with the client across restarts: resumed under the
// packet id the store kept (sent again with DUP [MQTT-4.4.0-1], so that a client that had
// answered PUBREC keeps it once), or started under a new id that is written to the store
// before the PUBLISH goes.
void Session::start_stored_qos2(Outgoing copy) {
  const OutboundFlow::Token token = next_token_++;
  const uint16_t kept_id = copy.stored->mqtt->packet_id;
  if (kept_id != 0 && outbound_->resume(kept_id, token)) {
    in_flight_.emplace(token, InFlight{copy.message->size(), copy.stored});
    emit(std::move(copy), kept_id, true);
    return;
  }
  const std::optional<uint16_t> packet_id = outbound_->start(QoS::exactly_once, token);
  auto sending = std::make_shared<Delivery>(*copy.stored);
  sending->state = DeliveryState::attempting;
  sending->mqtt->packet_id = *packet_id;
  copy.stored = sending;
  in_flight_.emplace(token, InFlight{copy.message->size(), copy.stored});
  next_request_.sending.push_back(std::move(sending));
  awaiting_id_.push_back(
      AwaitingId{.copy = std::move(copy), .packet_id = packet_id, .request = requests_sent_ + 1});
}

void Session::emit(Outgoing copy, std::optional<uint16_t> packet_id, bool dup) {
  if (!awaiting_id_.empty()) {
    const uint64_t request = awaiting_id_.back().request;
    awaiting_id_.push_back(AwaitingId{std::move(copy), packet_id, dup, request});
    return;
  }
  send_copy(copy, packet_id, dup);
  if (!packet_id) attachment_->budget->release(copy.message->size());  // QoS 0: done
}

void Session::on_queue_stored() {
  if (phase_ == Phase::connected && persistent()) read_wanted_ = true;
}

// A persistent session's CONNACK goes once its record is on disk, with what it held of a
// resumed session (its inbound QoS 2 marks) read first; then its queue is read. A session
// that clean start ended has its queue ended.
void Session::connect_persistent(Connack connack) {
  const bool resumed = attachment_->resumed.has_value();
  connack.session_present = resumed;
  if (resumed) {
    for (StoredSubscription& subscription : *attachment_->resumed) {
      std::string filter = subscription.filter;
      subscriptions_.emplace(std::move(filter), std::move(subscription));
    }
    attachment_->resumed.reset();
    next_request_.load_inbound = true;
  }
  next_request_.erase_session = attachment_->discarded;
  if (persistent()) {
    write_record();
    read_wanted_ = resumed;
  }
  answer(std::move(connack), true, true);
}

void Session::write_record() {
  next_request_.session = session_record(phase_ == Phase::connected && !ended_
                                             ? std::nullopt
                                             : std::optional<TimePoint>(clock_.now()));
}

MqttSessionRecord Session::session_record(std::optional<TimePoint> disconnected_at) const {
  return MqttSessionRecord{
      .client_id = client_id(),
      .version = static_cast<uint8_t>(terms_->version == ProtocolVersion::v5 ? 5 : 4),
      .expiry_interval = expiry_interval_,
      .disconnected_at = disconnected_at,
      .subscriptions = stored_subscriptions(),
  };
}

std::vector<StoredSubscription> Session::stored_subscriptions() const {
  std::vector<StoredSubscription> all;
  all.reserve(subscriptions_.size());
  for (const auto& [filter, subscription] : subscriptions_) all.push_back(subscription);
  return all;
}

// A stored copy the client has answered (or that expired in memory) ends in the store; the
// window it held opens for the next read.
void Session::finish_stored(const std::shared_ptr<const Delivery>& stored, bool delivered) {
  stored_held_.erase(stored->key());
  if (delivered) {
    next_request_.delivered.push_back(stored);
  } else {
    next_request_.expired.push_back(stored);
  }
  if (store_has_more_) read_wanted_ = true;
}

// A persistent session stays in the broker, offline, with what it subscribes to.
void Session::detach_from_broker() {
  if (!attachment_) return;
  broker_->detach(*attachment_, expiry_interval_,
                  persistent() ? stored_subscriptions() : std::vector<StoredSubscription>{},
                  clock_.now());
}

}  // namespace herald::mqtt
