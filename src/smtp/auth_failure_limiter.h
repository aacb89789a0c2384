// Counts failures per client (an IPv4 address or an IPv6 /64, smtp/client_key.h), so that
// guessing costs the guesser time: past `max_failures` within `window`, the client is refused
// until its oldest counted failure leaves the window. One limiter counts failed AUTHs
// (limits.max_auth_failures); another counts SRS addresses with a bad hash
// (limits.max_srs_failures), which is how a forger would search for a valid one.
#pragma once

#include <cstddef>
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

  // True when the client of `peer_ip` (numeric) has used up its failures and must wait.
  bool blocked(std::string_view peer_ip) const;
  void record_failure(std::string_view peer_ip);

  // Clients with failures still held: at most twice those whose failures are in the window,
  // plus kMinSweepSize.
  size_t clients_counted() const;

 private:
  static constexpr size_t kMinSweepSize = 64;

  void forget_old_failures(std::deque<TimePoint>& failures, TimePoint now) const;

  const Clock& clock_;
  const uint32_t max_failures_;
  const Duration window_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::deque<TimePoint>, std::less<>> failures_;
  size_t sweep_at_ = kMinSweepSize;  // guarded by mutex_
};

}  // namespace herald
