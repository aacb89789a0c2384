#include "mqtt/pending_wills.h"

#include <chrono>
#include <utility>

namespace herald::mqtt {

SharedMessage stamp(PendingWill& will, TimePoint now, uint64_t sequence) {
  Message& message = *will.message;
  message.received = now;
  message.expires_at.reset();
  if (will.expiry_interval) message.expires_at = now + std::chrono::seconds(*will.expiry_interval);
  message.sequence = sequence;
  return std::move(will.message);
}

void PendingWills::add(PendingWill will) {
  cancel(will.client_id);
  std::string client_id = will.client_id;
  const TimePoint due = will.due;
  by_client_.emplace(std::move(client_id), by_due_.emplace(due, std::move(will)));
}

void PendingWills::cancel(std::string_view client_id) {
  const auto it = by_client_.find(std::string(client_id));
  if (it == by_client_.end()) return;
  by_due_.erase(it->second);
  by_client_.erase(it);
}

void PendingWills::end_session(std::string_view client_id) {
  const auto it = by_client_.find(std::string(client_id));
  if (it == by_client_.end()) return;
  PendingWill will = std::move(it->second->second);
  by_due_.erase(it->second);
  by_client_.erase(it);
  add_ended(std::move(will));
}

// TimePoint::min() sorts it before every will waiting, so the next sweep takes it whatever
// the clock says.
void PendingWills::add_ended(PendingWill will) {
  by_due_.emplace(TimePoint::min(), std::move(will));
}

std::vector<PendingWill> PendingWills::take_due(TimePoint now) {
  std::vector<PendingWill> due;
  while (!by_due_.empty() && by_due_.begin()->first <= now) {
    const auto first = by_due_.begin();
    const auto indexed = by_client_.find(first->second.client_id);
    if (indexed != by_client_.end() && indexed->second == first) by_client_.erase(indexed);
    due.push_back(std::move(first->second));
    by_due_.erase(first);
  }
  return due;
}

}  // namespace herald::mqtt
