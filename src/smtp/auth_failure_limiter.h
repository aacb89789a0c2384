// Counts failed AUTH attempts per client address, so that password guessing costs the
// guesser time: past limits.max_auth_failures failures within limits.auth_failure_window,
// the address is refused AUTH until its oldest counted failure leaves the window.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "util/clock.h"

namespace herald {

// Thread-safe: one limiter serves every connection of every listener. `clock` must
// outlive it. Memory stays bounded: addresses whose failures all left the window are
// forgotten.
class AuthFailureLimiter {
 public:
  AuthFailureLimiter(const Clock& clock, uint32_t max_failures, Duration window);

  // True when `peer_ip` has used up its failures and must wait.
  bool blocked(std::string_view peer_ip) const;
  void record_failure(std::string_view peer_ip);

 private:
  void forget_old_failures(std::deque<TimePoint>& failures, TimePoint now) const;

  const Clock& clock_;
  const uint32_t max_failures_;
  const Duration window_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::deque<TimePoint>, std::less<>> failures_;
};

}  // namespace herald
