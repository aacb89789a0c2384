#include "smtp/auth_failure_limiter.h"

#include <algorithm>

#include "smtp/client_key.h"

namespace herald {

AuthFailureLimiter::AuthFailureLimiter(const Clock& clock, uint32_t max_failures, Duration window)
    : clock_(clock), max_failures_(max_failures), window_(window) {}

bool AuthFailureLimiter::blocked(std::string_view peer_ip) const {
  const std::lock_guard lock(mutex_);
  const auto it = failures_.find(client_key(peer_ip));
  if (it == failures_.end()) return false;
  forget_old_failures(it->second, clock_.now());
  if (it->second.empty()) {
    failures_.erase(it);
    return false;
  }
  return it->second.size() >= max_failures_;
}

void AuthFailureLimiter::record_failure(std::string_view peer_ip) {
  const std::lock_guard lock(mutex_);
  const TimePoint now = clock_.now();
  // Many distinct guessers must not grow the map without end, nor may each failure cost a
  // walk over every client (quadratic under a spread-out attack): the map is swept only once
  // it has doubled since the last sweep, so a sweep is paid for by the failures that grew it
  // and the map holds at most twice the clients still in their window.
  if (failures_.size() >= sweep_at_) {
    for (auto it = failures_.begin(); it != failures_.end();) {
      forget_old_failures(it->second, now);
      it = it->second.empty() ? failures_.erase(it) : std::next(it);
    }
    sweep_at_ = std::max(kMinSweepSize, 2 * failures_.size());
  }
  const std::string client = client_key(peer_ip);
  auto it = failures_.find(client);
  if (it == failures_.end()) it = failures_.emplace(client, std::deque<TimePoint>{}).first;
  it->second.push_back(now);
}

size_t AuthFailureLimiter::clients_counted() const {
  const std::lock_guard lock(mutex_);
  return failures_.size();
}

void AuthFailureLimiter::forget_old_failures(std::deque<TimePoint>& failures, TimePoint now) const {
  while (!failures.empty() && failures.front() + window_ <= now) failures.pop_front();
}

}  // namespace herald
