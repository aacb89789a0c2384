#include "mqtt/store_worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "mqtt/properties.h"
#include "mqtt/topic.h"
#include "mqtt/wire.h"
#include "util/message_id.h"

namespace herald::mqtt {

namespace {

// Deliveries a session's end or a queue read walks per store call.
constexpr size_t kSlice = 256;
// Retained messages a subscription reads per request.
constexpr size_t kRetainedPage = 64;

std::string encode_properties(const Properties& properties) {
  std::string bytes;
  WireWriter writer(bytes);
  write_properties(writer, properties);
  return bytes;
}

// What encode_properties wrote; a stored list that does not read back is dropped (the
// payload still goes), with a log line.
Properties decode_properties(std::string_view bytes, std::string_view message_id) {
  Properties properties;
  if (bytes.empty()) return properties;
  WireReader reader(bytes);
  read_properties(reader, PropertyContext::publish, properties);
  if (reader.failed()) {
    spdlog::error("mqtt message id={}: stored properties do not decode; sent without them",
                  message_id);
    return {};
  }
  return properties;
}

// The literal start of `filter`, before its first wildcard: every topic it matches starts
// with it, so the store is read from there only.
std::string_view literal_prefix(std::string_view filter) {
  return filter.substr(0, std::min(filter.find('+'), filter.find('#')));
}

LedgerEvent event(TimePoint at, std::string type, std::string recipient,
                  std::vector<std::pair<std::string, std::string>> fields = {}) {
  return LedgerEvent{.at = at,
                     .type = std::move(type),
                     .recipient = std::move(recipient),
                     .fields = std::move(fields)};
}

void split_peer(const std::string& peer, Envelope& envelope) {
  const size_t colon = peer.rfind(':');
  if (colon == std::string::npos) {
    envelope.peer_ip = peer;
    return;
  }
  std::string ip = peer.substr(0, colon);
  if (ip.size() >= 2 && ip.front() == '[') ip = ip.substr(1, ip.size() - 2);
  envelope.peer_ip = std::move(ip);
  envelope.peer_port = static_cast<uint16_t>(std::strtoul(peer.c_str() + colon + 1, nullptr, 10));
}

// A stored copy's end: delivered when the client answered it, or expired.
StoreWrite::Update ended(const Delivery& stored, DeliveryState state, std::string reply,
                         TimePoint now) {
  Delivery delivery = stored;
  delivery.state = state;
  delivery.last_reply = reply;
  if (state == DeliveryState::delivered) ++delivery.attempts;
  return StoreWrite::Update{.delivery = delivery,
                            .events = {event(now, std::string(to_string(state)), delivery.recipient,
                                             {{"via", std::move(reply)}})}};
}

}  // namespace

StoreWorker::StoreWorker(Store& store, Broker& broker, const Clock& clock, InFlightBudget* memory)
    : store_(store), broker_(broker), clock_(clock), memory_(memory) {}

StoreResult StoreWorker::perform(const StoreRequest& request) {
  StoreResult result;
  std::vector<std::string> woken;  // a client id per copy committed
  bool written = false;
  try {
    if (request.erase_session) end_session(request.client_id, "session ended");
    const TimePoint now = clock_.now();
    StoreWrite write;
    for (const PublishToKeep& publish : request.publishes) {
      add_publish(write, request, publish, result.message_ids, woken);
    }
    if (request.session) write.sessions_put.push_back(*request.session);
    for (const uint16_t packet_id : request.inbound_released) {
      write.inbound_erased.emplace_back(request.client_id, packet_id);
    }
    for (const auto& stored : request.delivered) {
      const uint8_t qos = stored->mqtt ? stored->mqtt->qos : 1;
      write.updates.push_back(
          ended(*stored, DeliveryState::delivered, qos == 2 ? "PUBCOMP" : "PUBACK", now));
    }
    for (const auto& stored : request.expired) {
      write.updates.push_back(ended(*stored, DeliveryState::expired, "message expiry", now));
    }
    for (const auto& stored : request.sending) {
      write.updates.push_back(StoreWrite::Update{
          .delivery = *stored,
          .events = {event(now, "attempt", stored->recipient,
                           {{"packet_id", std::to_string(stored->mqtt->packet_id)}})}});
    }
    if (!write.empty()) store_.apply(write);
    written = true;
    std::vector<std::string> ended;
    for (const auto& stored : request.delivered) ended.push_back(stored->recipient);
    for (const auto& stored : request.expired) ended.push_back(stored->recipient);
    broker_.unkeep(ended);
    if (request.load_inbound) result.inbound = store_.mqtt_inbound(request.client_id);
    if (request.read) read_queue(request.client_id, *request.read, result);
    if (request.retained) read_retained(*request.retained, result);
  } catch (const StoreError& e) {
    spdlog::error("mqtt store client='{}': {}", request.client_id, e.what());
    if (!written) broker_.unkeep(woken);  // the copies charged to queues were never kept
    return StoreResult{.ok = false, .error = e.what()};
  }
  std::sort(woken.begin(), woken.end());
  woken.erase(std::unique(woken.begin(), woken.end()), woken.end());
  broker_.stored(woken);
  return result;
}

// One herald message per PUBLISH, its payload the body; one delivery per persistent session,
// due at once, on that session's transport, so that its queue is its slice of the due index.
void StoreWorker::add_publish(StoreWrite& write, const StoreRequest& request,
                              const PublishToKeep& publish, std::vector<std::string>& ids,
                              std::vector<std::string>& woken) {
  const Message& message = *publish.message;
  StoreWrite::NewMessage stored;
  MessageRecord& record = stored.record;
  record.id = ids_.next(message.received);
  record.received_at = message.received;
  record.envelope.listener = "mqtt";
  record.envelope.protocol = "MQTT";
  record.envelope.authenticated_as = request.username;
  split_peer(request.peer, record.envelope);
  record.qos.priority = message.priority;
  record.mqtt = MqttMessageFields{.topic = message.topic,
                                  .qos = static_cast<uint8_t>(message.qos),
                                  .retain = message.retain,
                                  .properties = encode_properties(message.properties),
                                  .expires_at = message.expires_at,
                                  .publisher = message.publisher};
  stored.content = ContentToCommit(std::string(), 0, 0, message.payload);
  stored.events.push_back(event(message.received, "received", "",
                                {{"client", request.client_id},
                                 {"peer", request.peer},
                                 {"topic", message.topic},
                                 {"qos", std::to_string(static_cast<int>(message.qos))},
                                 {"size", std::to_string(message.payload.size())}}));
  uint32_t index = 0;
  for (const KeptCopy& copy : publish.copies) {
    Delivery delivery;
    delivery.message_id = record.id;
    delivery.index = index++;
    delivery.recipient = copy.client_id;
    delivery.transport = mqtt_transport(copy.client_id);
    delivery.next_attempt = message.received;
    delivery.priority = message.priority;
    delivery.mqtt = copy.fields;
    stored.events.push_back(event(message.received, "queued", copy.client_id,
                                  {{"qos", std::to_string(copy.fields.qos)}}));
    stored.deliveries.push_back(std::move(delivery));
    woken.push_back(copy.client_id);
  }
  if (message.retain) {
    if (message.payload.empty()) {
      write.retained_erased.push_back(message.topic);
    } else {
      write.retained_put.push_back(RetainedMessage{.topic = message.topic,
                                                   .qos = static_cast<uint8_t>(message.qos),
                                                   .properties = record.mqtt->properties,
                                                   .payload = message.payload,
                                                   .priority = message.priority,
                                                   .received = message.received,
                                                   .expires_at = message.expires_at,
                                                   .message_id = record.id});
    }
    stored.events.push_back(event(message.received,
                                  message.payload.empty() ? "retained-cleared" : "retained", "",
                                  {{"topic", message.topic}}));
  }
  if (publish.inbound_mark) {
    write.inbound_put.push_back(MqttInboundMark{.client_id = request.client_id,
                                                .packet_id = *publish.inbound_mark,
                                                .message_id = record.id});
  }
  ids.push_back(record.id);
  write.messages.push_back(std::move(stored));
}

// Highest priority first, then oldest, as the due index orders each session's slice; copies
// past their expiry are ended on the way. Stops at `read.limit` copies, or when the shared
// memory budget has no room for the next one.
void StoreWorker::read_queue(const std::string& client_id, const QueueRead& read,
                             StoreResult& result) {
  const std::set<DeliveryKey> skip(read.skip.begin(), read.skip.end());
  const TimePoint now = clock_.now();
  const TimePoint until = now + std::chrono::hours(24);  // what a clock step back left due
  StoreWrite expired;
  const std::string transport = mqtt_transport(client_id);
  for (uint8_t band = 0; band < DuePosition::kBands && !result.more; ++band) {
    DuePosition after = DuePosition::start_of(transport, band);
    for (;;) {
      const std::vector<DueDelivery> due =
          store_.due_deliveries(after, until, kSlice + skip.size());
      for (const DueDelivery& entry : due) {
        if (skip.contains(entry.delivery.key())) continue;
        if (result.copies.size() == read.limit) {
          result.more = true;
          break;
        }
        std::optional<Outgoing> copy = copy_of(entry, expired, now, result.more);
        if (result.more) break;
        if (copy) result.copies.push_back(std::move(*copy));
      }
      if (result.more || due.size() < kSlice + skip.size()) break;
      after = DuePosition::of(due.back().delivery);
    }
  }
  if (!expired.empty()) {
    store_.apply(expired);
    std::vector<std::string> ended(expired.updates.size(), client_id);
    broker_.unkeep(ended);
  }
}

// A page of the topics after `read.after` that start with the filter's literal part; those
// the filter matches (and not expired) become copies with RETAIN set. A copy that does not
// fit in the shared memory budget ends the page there, to go on later.
void StoreWorker::read_retained(const RetainedRead& read, StoreResult& result) {
  const TimePoint now = clock_.now();
  const std::vector<RetainedMessage> page =
      store_.retained(literal_prefix(read.filter), read.after, kRetainedPage);
  for (const RetainedMessage& retained : page) {
    if (!topic_matches(retained.topic, read.filter)) continue;
    if (retained.expires_at && *retained.expires_at <= now) continue;
    const uint64_t size = retained.topic.size() + retained.payload.size();
    InFlightBudget* memory = memory_;
    if (memory != nullptr && !memory->try_charge(size)) {
      result.retained_after = read.after;
      return;
    }
    std::shared_ptr<Message> message(new Message, [memory, size](const Message* m) {
      if (memory != nullptr) memory->release(size);
      delete m;
    });
    message->topic = retained.topic;
    message->qos = static_cast<QoS>(retained.qos);
    message->retain = true;
    message->properties = decode_properties(retained.properties, retained.message_id);
    message->payload = retained.payload;
    message->priority = retained.priority;
    message->received = retained.received;
    message->expires_at = retained.expires_at;
    message->sequence = broker_.next_sequence();
    Outgoing copy{.message = std::move(message),
                  .qos = std::min(static_cast<QoS>(retained.qos), read.max_qos),
                  .retain = true};
    if (read.identifier) copy.identifiers.push_back(*read.identifier);
    result.copies.push_back(std::move(copy));
  }
  if (page.size() == kRetainedPage) result.retained_after = page.back().topic;
}

// The copy as the session sends it, its message charged to the shared memory budget (given
// back when the last holder lets it go); nullopt for one expired (added to `expired`) or
// one that does not fit (then `no_room` is set and the read stops).
std::optional<Outgoing> StoreWorker::copy_of(const DueDelivery& due, StoreWrite& expired,
                                             TimePoint now, bool& no_room) {
  const MessageRecord& record = *due.message;
  const Delivery& delivery = due.delivery;
  if (!record.mqtt || !delivery.mqtt) return std::nullopt;
  if (record.mqtt->expires_at && *record.mqtt->expires_at <= now) {
    expired.updates.push_back(ended(delivery, DeliveryState::expired, "message expiry", now));
    return std::nullopt;
  }
  std::string payload;
  for (uint32_t i = 0; i < record.body_pieces; ++i) {
    std::optional<std::string> piece = store_.body_piece(record.id, i);
    if (!piece)
      throw StoreError("store: message " + record.id + " lacks body piece " + std::to_string(i));
    payload += *piece;
  }
  const uint64_t size = record.mqtt->topic.size() + payload.size();
  InFlightBudget* memory = memory_;
  if (memory != nullptr && !memory->try_charge(size)) {
    no_room = true;
    return std::nullopt;
  }
  std::shared_ptr<Message> message(new Message, [memory, size](const Message* m) {
    if (memory != nullptr) memory->release(size);
    delete m;
  });
  message->topic = record.mqtt->topic;
  message->qos = static_cast<QoS>(record.mqtt->qos);
  message->retain = record.mqtt->retain;
  message->properties = decode_properties(record.mqtt->properties, record.id);
  message->payload = std::move(payload);
  message->priority = record.qos.priority;
  message->received = record.received_at;
  message->expires_at = record.mqtt->expires_at;
  message->sequence = broker_.next_sequence();
  message->publisher = record.mqtt->publisher;
  return Outgoing{.message = std::move(message),
                  .qos = static_cast<QoS>(delivery.mqtt->qos),
                  .retain = delivery.mqtt->retain,
                  .identifiers = delivery.mqtt->identifiers,
                  .stored = std::make_shared<const Delivery>(delivery)};
}

// The record and marks go first, in one synced write: a crash in the middle of the queue
// leaves copies of a session nobody resumes, which the next end (or retention) takes. Then
// the queue, a slice at a time; copies committed from here on are a new session's (same
// client id), so only those of messages older than the end are discarded.
void StoreWorker::end_session(const std::string& client_id, std::string_view reason) {
  const std::string cutoff = ids_.next(clock_.now());  // above every id made before
  StoreWrite erase;
  erase.sessions_erased.push_back(client_id);
  store_.apply(erase);
  const std::string transport = mqtt_transport(client_id);
  size_t ended = 0;
  for (uint8_t band = 0; band < DuePosition::kBands; ++band) {
    DuePosition after = DuePosition::start_of(transport, band);
    for (;;) {
      const std::vector<DueDelivery> due = store_.due_deliveries(after, TimePoint::max(), kSlice);
      StoreWrite discard;
      const TimePoint now = clock_.now();
      for (const DueDelivery& entry : due) {
        if (entry.delivery.message_id >= cutoff) continue;
        Delivery delivery = entry.delivery;
        delivery.state = DeliveryState::discarded;
        delivery.last_reply = std::string(reason);
        discard.updates.push_back(
            StoreWrite::Update{.delivery = delivery,
                               .events = {event(now, "discarded", delivery.recipient,
                                                {{"reason", std::string(reason)}})}});
      }
      if (!discard.empty()) store_.apply(discard);
      ended += discard.updates.size();
      if (due.size() < kSlice) break;
      after = DuePosition::of(due.back().delivery);
    }
  }
  spdlog::info("mqtt session ended client='{}' reason='{}' discarded={}", client_id, reason, ended);
}

// Linear in the queue: read once per session at start, so that its limit holds across
// restarts.
uint32_t StoreWorker::queued_in(const std::string& client_id) {
  uint32_t queued = 0;
  const std::string transport = mqtt_transport(client_id);
  for (uint8_t band = 0; band < DuePosition::kBands; ++band) {
    DuePosition after = DuePosition::start_of(transport, band);
    for (;;) {
      const std::vector<DueDelivery> due = store_.due_deliveries(after, TimePoint::max(), kSlice);
      queued += static_cast<uint32_t>(due.size());
      if (due.size() < kSlice) break;
      after = DuePosition::of(due.back().delivery);
    }
  }
  return queued;
}

size_t StoreWorker::restore_sessions() {
  size_t restored = 0;
  const TimePoint now = clock_.now();
  store_.for_each_mqtt_session([&](const MqttSessionRecord& record) {
    if (broker_.restore(record, now, queued_in(record.client_id))) {
      ++restored;
    } else {
      spdlog::error("mqtt session client='{}': a stored subscription does not parse; left out",
                    record.client_id);
    }
    return true;
  });
  return restored;
}

size_t StoreWorker::end_expired_sessions() {
  const std::vector<std::string> expired = broker_.take_expired(clock_.now());
  for (const std::string& client_id : expired) {
    try {
      end_session(client_id, "session expired");
    } catch (const StoreError& e) {
      spdlog::error("mqtt session client='{}' expired, not ended in the store: {}", client_id,
                    e.what());
    }
  }
  return expired.size();
}

}  // namespace herald::mqtt
