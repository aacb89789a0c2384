// The Session's will when its connection ends (MQTT 5 3.1.2.5, 3.1.3.2.2): published at
// once, or left with the broker to wait out its Will Delay Interval.
#include <chrono>

#include "mqtt/session.h"

namespace herald::mqtt {

// A session that ends with its connection (session expiry 0, or a DISCONNECT that set it to
// 0) takes its will's delay with it: the will goes at once, since it goes at the latest when
// the session ends [MQTT-3.1.3-9]. A persistent session's will waits in the broker for the
// delay, for the session's end, or for a connection resuming the session to cancel it.
void Session::leave_will() {
  const uint32_t delay = will_->properties.will_delay_interval.value_or(0);
  const bool waits = delay > 0 && persistent();
  std::shared_ptr<Message> message = will_message();
  if (!message) return;
  if (!waits) {
    publish_will_message(message);
    return;
  }
  const TimePoint now = clock_.now();
  broker_->defer_will(*attachment_,
                      PendingWill{.message = std::move(message),
                                  .expiry_interval = will_->properties.message_expiry_interval,
                                  .due = now + std::chrono::seconds(delay),
                                  .client_id = client_id(),
                                  .peer = peer_,
                                  .username = grant_ ? grant_->username() : std::string()});
}

// The will's charge moves to its message (which holds it until the last copy goes, or the
// broker drops the will): charging the message first and releasing after would count the
// will twice for a moment, and refuse it when the budget is nearly full. Null, and the will
// lost, when even so the budget has no room.
std::shared_ptr<Message> Session::will_message() {
  Will& will = *will_;
  will_charge_.reset();
  const std::optional<int> priority = priority_of(will.properties);
  return make_message(std::move(will.topic), will.qos, will.retain, will.properties,
                      std::move(will.payload), priority.value_or(0));
}

// What persistent sessions take of it, and a retained will, go to the store with the
// session's last request; nobody waits for an answer.
void Session::publish_will_message(const SharedMessage& message) {
  PublishResult result = broker_->publish(message, std::nullopt);
  if (!result.refused_full && (!result.kept.empty() || message->retain)) {
    next_request_.publishes.push_back(
        PublishToKeep{.message = message, .copies = std::move(result.kept)});
  }
}

}  // namespace herald::mqtt
