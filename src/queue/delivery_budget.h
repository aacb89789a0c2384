// What a temporary failure leads to (DESIGN.md section 3): another attempt at a time with
// backoff and jitter, or the end because the retry budget is spent or the delivery's hard
// stop would pass first. Pure functions of their arguments; callers pass `now` and draw the
// jitter, so tests choose both.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "queue/scheduling_facts.h"
#include "util/clock.h"

namespace herald {

// How long and how often one delivery is retried. "One attempt a day for a week, then give
// up" is backoff {1d} with max_age 7d (or max_attempts 7).
struct RetryBudget {
  // The wait after the 1st, 2nd, … failure; the last entry repeats. Must not be empty.
  std::vector<std::chrono::seconds> backoff{std::chrono::minutes(1), std::chrono::minutes(5),
                                            std::chrono::minutes(15), std::chrono::hours(1),
                                            std::chrono::hours(4)};
  std::optional<uint32_t> max_attempts;         // no more attempts than this, counting the first
  std::optional<std::chrono::seconds> max_age;  // no attempt starts this long after arrival
};

// The defaults, and budgets for particular destination domains that replace them whole.
struct RetryBudgets {
  RetryBudget defaults;
  std::map<std::string, RetryBudget, std::less<>> per_domain;
};

// The budget for deliveries to `domain`: its own if it has one, else the defaults. The
// result refers into `budgets`.
const RetryBudget& budget_for(const RetryBudgets& budgets, std::string_view domain);

// Retries spread out by at most this fraction of their delay, so that deliveries that failed
// together do not all come back in the same instant.
inline constexpr double kBackoffJitter = 0.1;

// The wait after the `failures`-th failure (1 for the first): that backoff entry, the last
// repeating, stretched by kBackoffJitter * `jitter`; `jitter` in [0, 1) is clamped to it.
Duration backoff_delay(uint32_t failures, const RetryBudget& budget, double jitter);

struct RetryAt {
  TimePoint at;
};
struct GiveUp {
  std::string reason;  // "retry budget spent (max_attempts 7)"
};
struct ExpireNow {
  std::string reason;  // "expires at 2023-11-15T00:00:00.000Z, before the next attempt"
};
using AfterFailure = std::variant<RetryAt, GiveUp, ExpireNow>;

// After a temporary failure at `now`; facts.attempts counts the attempt that just failed.
// The delivery expires when `expires` has come or would come before the next attempt
// (a hard stop is reported as such even when the budget is also spent). It gives up when
// max_attempts are made or when the next attempt would start at or after arrival + max_age:
// a budget is a bound on attempts, so the last one is not squeezed in at the edge.
AfterFailure after_temporary_failure(const SchedulingFacts& facts, TimePoint now,
                                     const RetryBudget& budget, double jitter);

// Before a first (or any) attempt at `now`: the reason it expires instead, or nullopt when it
// may be attempted.
std::optional<std::string> expiry_before_attempt(const SchedulingFacts& facts, TimePoint now);

}  // namespace herald
