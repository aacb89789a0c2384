#include "mqtt/broker.h"

#include <algorithm>
#include <mutex>

namespace herald::mqtt {

namespace {

QoS lower(QoS a, QoS b) {
  return std::min(a, b);
}

}  // namespace

Broker::Broker(BrokerLimits limits) : limits_(limits) {}

Broker::~Broker() = default;

Broker::Attachment Broker::attach(const std::string& client_id, std::shared_ptr<SessionSink> sink) {
  std::shared_ptr<SessionSink> previous;
  Attachment attachment;
  {
    std::unique_lock lock(mutex_);
    if (const auto it = by_client_.find(client_id); it != by_client_.end()) {
      previous = sessions_.at(it->second).sink;
      detach_locked(it->second);
    }
    attachment.id = next_id_++;
    attachment.budget =
        std::make_shared<QueueBudget>(limits_.max_queued_messages, limits_.max_queued_bytes);
    sessions_.emplace(attachment.id, Session{client_id, std::move(sink), attachment.budget});
    by_client_.emplace(client_id, attachment.id);
  }
  // Outside the lock: the old connection may be on this thread's strand's neighbour, and
  // what it does next must not wait for us.
  if (previous) previous->taken_over();
  return attachment;
}

void Broker::detach(SubscriberId id) {
  std::unique_lock lock(mutex_);
  detach_locked(id);
}

void Broker::detach_locked(SubscriberId id) {
  const auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  tree_.remove(id);
  by_client_.erase(it->second.client_id);
  sessions_.erase(it);
}

bool Broker::subscribe(SubscriberId id, std::string_view filter, SubscriptionOptions options,
                       std::optional<uint32_t> identifier) {
  std::unique_lock lock(mutex_);
  if (!sessions_.contains(id)) return false;
  return tree_.subscribe(filter, Subscription{id, options, identifier});
}

bool Broker::unsubscribe(SubscriberId id, std::string_view filter) {
  std::unique_lock lock(mutex_);
  return tree_.unsubscribe(filter, id);
}

size_t Broker::subscriptions_of(SubscriberId id) const {
  std::shared_lock lock(mutex_);
  return tree_.filters_of(id).size();
}

size_t Broker::sessions() const {
  std::shared_lock lock(mutex_);
  return sessions_.size();
}

// Charges one copy; false only when a QoS > 0 copy does not fit (the message is refused).
bool Broker::charge(const Session& session, const Outgoing& outgoing, PublishResult& result,
                    std::vector<Copy>& copies) const {
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
  std::shared_lock lock(mutex_);
  const Matches matches = tree_.match(message->topic, publisher);
  bool fits = true;
  for (const Recipient& recipient : matches.recipients) {
    const auto it = sessions_.find(recipient.subscriber);
    if (it == sessions_.end()) continue;
    Outgoing outgoing{message, lower(message->qos, recipient.max_qos),
                      message->retain && recipient.retain_as_published, recipient.identifiers};
    fits = charge(it->second, outgoing, result, copies);
    if (!fits) break;
  }
  for (size_t i = 0; fits && i < matches.shared.size(); ++i) {
    const Subscription& member = pick_member(matches.shared[i], *message);
    Outgoing outgoing{message, lower(message->qos, member.options.max_qos),
                      message->retain && member.options.retain_as_published, {}};
    if (member.identifier) outgoing.identifiers.push_back(*member.identifier);
    fits = charge(sessions_.at(member.subscriber), outgoing, result, copies);
  }
  if (!fits) {
    for (const Copy& copy : copies) copy.session->budget->release(message->size());
    return PublishResult{.copies = 0, .dropped_qos0 = 0, .refused_full = true};
  }
  for (Copy& copy : copies) copy.session->sink->deliver(std::move(copy.outgoing));
  result.copies = copies.size();
  return result;
}

}  // namespace herald::mqtt
