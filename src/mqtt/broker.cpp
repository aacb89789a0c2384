#include "mqtt/broker.h"

#include <algorithm>
#include <limits>
#include <mutex>

#include "mqtt/connect_terms.h"
#include "mqtt/session_store.h"
#include "mqtt/topic.h"

namespace herald::mqtt {

namespace {

QoS lower(QoS a, QoS b) {
  return std::min(a, b);
}

}  // namespace

Broker::Broker(BrokerLimits limits) : limits_(limits) {}

Broker::~Broker() = default;

Broker::Attachment Broker::attach(SessionOrigin origin, std::shared_ptr<SessionSink> sink,
                                  SessionLife life) {
  std::shared_ptr<SessionSink> previous;
  Attachment attachment;
  attachment.budget =
      std::make_shared<QueueBudget>(limits_.max_queued_messages, limits_.max_queued_bytes);
  attachment.stats = std::make_shared<SessionStats>();
  {
    std::unique_lock lock(mutex_);
    attachment.generation = next_generation_++;
    const auto it = by_client_.find(origin.client_id);
    Session* resumed = nullptr;
    if (it != by_client_.end()) {
      Session& existing = sessions_.at(it->second);
      previous = std::move(existing.sink);
      if (!life.clean_start && existing.expiry_interval > 0) {
        resumed = &existing;
      } else {
        attachment.discarded = existing.expiry_interval > 0;
        remove_locked(it->second);
      }
    }
    if (resumed != nullptr) {
      attachment.id = by_client_.at(origin.client_id);
      attachment.resumed = std::move(resumed->offline_subscriptions);
      resumed->offline_subscriptions.clear();
      if (resumed->expiry) expiries_.erase(*resumed->expiry);
      wills_.cancel(resumed->origin.client_id);  // [MQTT-3.1.3-9]
      resumed->expiry.reset();
      resumed->origin = std::move(origin);
      resumed->sink = std::move(sink);
      resumed->budget = attachment.budget;
      resumed->stats = attachment.stats;
      resumed->generation = attachment.generation;
      resumed->expiry_interval = life.expiry_interval;
      if (!resumed->kept) resumed->kept = kept_budget();
    } else {
      attachment.id = next_id_++;
      by_client_.emplace(origin.client_id, attachment.id);
      sessions_.emplace(attachment.id, Session{.origin = std::move(origin),
                                               .sink = std::move(sink),
                                               .budget = attachment.budget,
                                               .stats = attachment.stats,
                                               .kept = kept_budget(),
                                               .generation = attachment.generation,
                                               .expiry_interval = life.expiry_interval});
    }
  }
  // Outside the lock: the old connection may be on this thread's strand's neighbour, and
  // what it does next must not wait for us.
  if (previous) previous->taken_over();
  return attachment;
}

void Broker::detach(const Attachment& attachment, uint32_t expiry_interval,
                    std::vector<StoredSubscription> subscriptions, TimePoint now) {
  std::unique_lock lock(mutex_);
  const auto it = sessions_.find(attachment.id);
  if (it == sessions_.end() || it->second.generation != attachment.generation) return;
  Session& session = it->second;
  if (expiry_interval == 0) {
    remove_locked(attachment.id);
    return;
  }
  session.sink.reset();
  session.expiry_interval = expiry_interval;
  session.offline_subscriptions = std::move(subscriptions);
  const TimePoint until = expiry_interval == kSessionNeverExpires
                              ? TimePoint::max()
                              : now + std::chrono::seconds(expiry_interval);
  session.expiry = expiries_.emplace(until, session.origin.client_id);
}

std::shared_ptr<QueueBudget> Broker::kept_budget() const {
  return std::make_shared<QueueBudget>(limits_.max_queued_messages,
                                       std::numeric_limits<uint64_t>::max());
}

bool Broker::restore(const MqttSessionRecord& record, TimePoint now, uint32_t queued) {
  std::vector<std::pair<std::string, Subscription>> parsed;
  for (const StoredSubscription& stored : record.subscriptions) {
    const std::optional<SubscriptionOptions> options = options_of_stored(stored.options);
    if (!options || check_topic_filter(stored.filter, TopicLimits{}) != TopicError::none) {
      return false;
    }
    parsed.emplace_back(stored.filter, Subscription{0, *options, stored.identifier});
  }
  std::unique_lock lock(mutex_);
  if (by_client_.contains(record.client_id)) return false;
  const SubscriberId id = next_id_++;
  by_client_.emplace(record.client_id, id);
  Session& session = sessions_[id];
  session.origin =
      SessionOrigin{.client_id = record.client_id,
                    .version = record.version == 4 ? ProtocolVersion::v3_1_1 : ProtocolVersion::v5,
                    .connected = record.disconnected_at.value_or(now)};
  session.budget =
      std::make_shared<QueueBudget>(limits_.max_queued_messages, limits_.max_queued_bytes);
  session.stats = std::make_shared<SessionStats>();
  session.kept = kept_budget();
  session.kept->charge_held(queued);
  session.generation = next_generation_++;
  session.expiry_interval = record.expiry_interval;
  session.offline_subscriptions = record.subscriptions;
  for (auto& [filter, subscription] : parsed) {
    subscription.subscriber = id;
    if (!tree_.subscribe(filter, subscription)) ++session.subscriptions;
  }
  const TimePoint since = record.disconnected_at.value_or(now);
  const TimePoint until = record.expiry_interval == kSessionNeverExpires
                              ? TimePoint::max()
                              : since + std::chrono::seconds(record.expiry_interval);
  session.expiry = expiries_.emplace(until, record.client_id);
  return true;
}

std::vector<std::string> Broker::take_expired(TimePoint now) {
  std::vector<std::string> expired;
  std::unique_lock lock(mutex_);
  while (!expiries_.empty() && expiries_.begin()->first <= now) {
    const std::string client_id = expiries_.begin()->second;
    remove_locked(by_client_.at(client_id));
    expired.push_back(client_id);
  }
  return expired;
}

void Broker::defer_will(const Attachment& attachment, PendingWill will) {
  std::unique_lock lock(mutex_);
  const auto it = sessions_.find(attachment.id);
  if (it == sessions_.end()) {
    wills_.add_ended(std::move(will));  // ended already: ids are never reused
    return;
  }
  const Session& session = it->second;
  if (session.generation != attachment.generation) return;  // resumed: never published
  if (session.expiry) will.due = std::min(will.due, (*session.expiry)->first);
  wills_.add(std::move(will));
}

std::vector<PendingWill> Broker::take_due_wills(TimePoint now) {
  std::unique_lock lock(mutex_);
  return wills_.take_due(now);
}

size_t Broker::pending_wills() const {
  std::shared_lock lock(mutex_);
  return wills_.size();
}

void Broker::stored(const std::vector<std::string>& client_ids) {
  std::vector<std::shared_ptr<SessionSink>> online;
  {
    std::shared_lock lock(mutex_);
    for (const std::string& client_id : client_ids) {
      const auto it = by_client_.find(client_id);
      if (it == by_client_.end()) continue;
      if (const auto& sink = sessions_.at(it->second).sink) online.push_back(sink);
    }
  }
  for (const auto& sink : online) sink->stored();
}

void Broker::unkeep(const std::vector<std::string>& client_ids) {
  std::shared_lock lock(mutex_);
  for (const std::string& client_id : client_ids) {
    const auto it = by_client_.find(client_id);
    if (it == by_client_.end()) continue;
    if (const auto& kept = sessions_.at(it->second).kept; kept && kept->messages() > 0) {
      kept->release(0);
    }
  }
}

void Broker::remove_locked(SubscriberId id) {
  const auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  tree_.remove(id);
  if (it->second.expiry) expiries_.erase(*it->second.expiry);
  wills_.end_session(it->second.origin.client_id);  // MQTT 5 3.1.3.2.2: the session ends
  by_client_.erase(it->second.origin.client_id);
  sessions_.erase(it);
}

bool Broker::subscribe(const Attachment& attachment, std::string_view filter,
                       SubscriptionOptions options, std::optional<uint32_t> identifier) {
  std::unique_lock lock(mutex_);
  const auto it = sessions_.find(attachment.id);
  if (it == sessions_.end() || it->second.generation != attachment.generation) return false;
  const bool replaced = tree_.subscribe(filter, Subscription{attachment.id, options, identifier});
  if (!replaced) ++it->second.subscriptions;
  return replaced;
}

bool Broker::unsubscribe(const Attachment& attachment, std::string_view filter) {
  std::unique_lock lock(mutex_);
  const auto it = sessions_.find(attachment.id);
  if (it == sessions_.end() || it->second.generation != attachment.generation) return false;
  const bool held = tree_.unsubscribe(filter, attachment.id);
  if (held) --it->second.subscriptions;
  return held;
}

size_t Broker::subscriptions_of(SubscriberId id) const {
  std::shared_lock lock(mutex_);
  return tree_.filters_of(id).size();
}

size_t Broker::sessions() const {
  std::shared_lock lock(mutex_);
  return sessions_.size();
}

SessionList Broker::snapshot(std::optional<size_t> limit) const {
  SessionList list;
  std::shared_lock lock(mutex_);
  list.total = sessions_.size();
  const size_t wanted = std::min(list.total, limit.value_or(list.total));
  list.sessions.reserve(wanted);
  for (const auto& [client_id, id] : by_client_) {
    if (list.sessions.size() == wanted) break;
    const Session& session = sessions_.at(id);
    list.sessions.push_back(SessionSnapshot{
        .client_id = session.origin.client_id,
        .peer = session.sink ? session.origin.peer : "offline",
        .version = session.origin.version,
        .connected = session.origin.connected,
        .subscriptions = session.subscriptions,
        .held = session.budget->messages() + (session.kept ? session.kept->messages() : 0),
        .held_bytes = session.budget->bytes(),
        .in_flight = session.stats->in_flight.load(std::memory_order_relaxed),
    });
  }
  return list;
}

// A persistent session's copy at QoS > 0 goes to the store (its queue there has the limits of
// the disk); at QoS 0 it is delivered if the session is online, like any other.
void Broker::add_kept(const Session& session, const Outgoing& outgoing,
                      PublishResult& result) const {
  result.kept.push_back(KeptCopy{.client_id = session.origin.client_id,
                                 .fields = MqttCopyFields{
                                     .qos = static_cast<uint8_t>(outgoing.qos),
                                     .retain = outgoing.retain,
                                     .identifiers = outgoing.identifiers,
                                 }});
}

// Charges one copy; false only when a QoS > 0 copy does not fit (the message is refused): in
// memory, or in a persistent session's queue in the store, which counts copies only.
bool Broker::charge(const Session& session, const Outgoing& outgoing, PublishResult& result,
                    std::vector<Copy>& copies, std::vector<QueueBudget*>& kept) const {
  if (session.expiry_interval > 0 && outgoing.qos != QoS::at_most_once) {
    if (!session.kept->try_charge(0)) return false;
    kept.push_back(session.kept.get());
    add_kept(session, outgoing, result);
    return true;
  }
  if (!session.sink) return true;  // offline: QoS 0 is not kept for it
  if (session.budget->try_charge(outgoing.message->size())) {
    copies.push_back(Copy{&session, outgoing});
    return true;
  }
  if (outgoing.qos == QoS::at_most_once) {
    ++result.dropped_qos0;
    return true;
  }
  return false;
}

// The members in turn, starting at one the message's number chooses: consecutive messages
// go round the group, and a member whose queue is full is passed over (when all are full,
// the first is charged, and refuses).
const Subscription& Broker::pick_member(const SharedMatch& group, const Message& message) const {
  const size_t count = group.members.size();
  for (size_t step = 0; step < count; ++step) {
    const Subscription& member = group.members[(message.sequence + step) % count];
    const QueueBudget& budget = *sessions_.at(member.subscriber).budget;
    if (budget.messages() < limits_.max_queued_messages &&
        budget.bytes() + message.size() <= limits_.max_queued_bytes) {
      return member;
    }
  }
  return group.members[message.sequence % count];
}

PublishResult Broker::publish(const SharedMessage& message, std::optional<SubscriberId> publisher) {
  PublishResult result;
  std::vector<Copy> copies;
  std::vector<QueueBudget*> kept;
  std::shared_lock lock(mutex_);
  const Matches matches = tree_.match(message->topic, publisher);
  bool fits = true;
  for (const Recipient& recipient : matches.recipients) {
    const auto it = sessions_.find(recipient.subscriber);
    if (it == sessions_.end()) continue;
    Outgoing outgoing{message, lower(message->qos, recipient.max_qos),
                      message->retain && recipient.retain_as_published, recipient.identifiers};
    fits = charge(it->second, outgoing, result, copies, kept);
    if (!fits) break;
  }
  for (size_t i = 0; fits && i < matches.shared.size(); ++i) {
    const Subscription& member = pick_member(matches.shared[i], *message);
    Outgoing outgoing{message,
                      lower(message->qos, member.options.max_qos),
                      message->retain && member.options.retain_as_published,
                      {}};
    if (member.identifier) outgoing.identifiers.push_back(*member.identifier);
    fits = charge(sessions_.at(member.subscriber), outgoing, result, copies, kept);
  }
  if (!fits) {
    for (const Copy& copy : copies) copy.session->budget->release(message->size());
    for (QueueBudget* budget : kept) budget->release(0);
    return PublishResult{.copies = 0, .dropped_qos0 = 0, .refused_full = true};
  }
  for (Copy& copy : copies) copy.session->sink->deliver(std::move(copy.outgoing));
  result.copies = copies.size() + result.kept.size();
  return result;
}

}  // namespace herald::mqtt
