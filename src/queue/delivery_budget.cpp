#include "queue/delivery_budget.h"

#include <algorithm>

#include "util/time_text.h"

namespace herald {
namespace {

std::string expired_reason(TimePoint expires) {
  return "expires at " + format_utc(expires) + ", before the next attempt";
}

}  // namespace

const RetryBudget& budget_for(const RetryBudgets& budgets, std::string_view domain) {
  const auto it = budgets.per_domain.find(domain);
  return it != budgets.per_domain.end() ? it->second : budgets.defaults;
}

Duration backoff_delay(uint32_t failures, const RetryBudget& budget, double jitter) {
  if (budget.backoff.empty()) return Duration::zero();
  const size_t step =
      std::min<size_t>(std::max<uint32_t>(failures, 1) - 1, budget.backoff.size() - 1);
  const Duration base = budget.backoff[step];
  const double stretch = kBackoffJitter * std::clamp(jitter, 0.0, 1.0);
  return base + std::chrono::duration_cast<Duration>(
                    std::chrono::duration<double, Duration::period>(base.count() * stretch));
}

AfterFailure after_temporary_failure(const SchedulingFacts& facts, TimePoint now,
                                     const RetryBudget& budget, double jitter) {
  const TimePoint next = now + backoff_delay(facts.attempts, budget, jitter);
  // Also covers a failure at or after `expires`, as next >= now.
  if (facts.expires && next >= *facts.expires) return ExpireNow{expired_reason(*facts.expires)};
  if (budget.max_attempts && facts.attempts >= *budget.max_attempts) {
    return GiveUp{"retry budget spent (max_attempts " + std::to_string(*budget.max_attempts) + ")"};
  }
  if (budget.max_age && next >= facts.arrival + *budget.max_age) {
    return GiveUp{"retry budget spent (max_age " + duration_text(*budget.max_age) + ")"};
  }
  return RetryAt{next};
}

std::optional<std::string> expiry_before_attempt(const SchedulingFacts& facts, TimePoint now) {
  if (facts.expires && now >= *facts.expires) {
    return "expired at " + format_utc(*facts.expires) + " before it could be attempted";
  }
  return std::nullopt;
}

}  // namespace herald
