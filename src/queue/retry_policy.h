// When a delivery that failed temporarily is tried again, and when herald stops trying
// (DESIGN.md section 3). Pure functions of their arguments, kept apart from the queue
// runner's threads so that tests call them with the times they choose.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "config/config.h"
#include "util/clock.h"

namespace herald {

// Retries spread out by at most this fraction of their delay, so that deliveries that failed
// together (a full disk, a peer down) do not all come back in the same instant.
inline constexpr double kMaxRetryJitter = 0.1;

// The wait after the `failures`-th temporary failure (1 for the first): that entry of
// config.retry_backoff, the last entry repeating, stretched by kMaxRetryJitter * `jitter`.
// `jitter` is in [0, 1); the caller draws it.
Duration retry_delay(uint32_t failures, const QueueConfig& config, double jitter);

// The end of the retry budget of a message received at `received_at`.
TimePoint retry_deadline(TimePoint received_at, const QueueConfig& config);

// After the `failures`-th temporary failure, at `now`: when to try next, or nullopt when the
// budget is spent (now is at or past the deadline) and the delivery expires. A retry that
// would fall after the deadline happens at the deadline instead, so the last attempt is
// made when the budget runs out rather than skipped.
std::optional<TimePoint> next_attempt_after_failure(uint32_t failures, TimePoint received_at,
                                                    TimePoint now, const QueueConfig& config,
                                                    double jitter);

// The reason an expired delivery records: "retry budget spent (max_age 5d)".
std::string expiry_reason(const QueueConfig& config);

}  // namespace herald
