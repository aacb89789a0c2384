#include "queue/delivery_budget.h"

#include <gtest/gtest.h>

#include <vector>

namespace herald {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const TimePoint kReceived = from_unix_ms(1'700'000'000'000);
constexpr hours kDay{24};

SchedulingFacts failed_once_more(uint32_t attempts) {
  SchedulingFacts facts;
  facts.arrival = kReceived;
  facts.destination = "example.org";
  facts.attempts = attempts;
  return facts;
}

RetryBudget budget_of(std::vector<seconds> backoff) {
  RetryBudget budget;
  budget.backoff = std::move(backoff);
  return budget;
}

// Attempts a delivery that always fails temporarily, from its arrival, as the budget says;
// returns the attempt times and the final decision.
std::pair<std::vector<TimePoint>, AfterFailure> run_until_the_end(const RetryBudget& budget,
                                                                  double jitter) {
  std::vector<TimePoint> attempts;
  TimePoint now = kReceived;
  for (uint32_t n = 1; n <= 1000; ++n) {
    attempts.push_back(now);
    const AfterFailure after = after_temporary_failure(failed_once_more(n), now, budget, jitter);
    if (!std::holds_alternative<RetryAt>(after)) return {attempts, after};
    now = std::get<RetryAt>(after).at;
  }
  return {attempts, RetryAt{now}};
}

TEST(DeliveryBudget, OneAttemptADayForAWeekThenGiveUp) {
  RetryBudget by_age = budget_of({kDay});
  by_age.max_age = 7 * kDay;
  const auto [times, end] = run_until_the_end(by_age, 0.0);
  ASSERT_EQ(times.size(), 7u);
  for (size_t day = 0; day < times.size(); ++day) EXPECT_EQ(times[day], kReceived + day * kDay);
  ASSERT_TRUE(std::holds_alternative<GiveUp>(end));
  EXPECT_EQ(std::get<GiveUp>(end).reason, "retry budget spent (max_age 7d)");

  RetryBudget by_count = budget_of({kDay});
  by_count.max_attempts = 7;
  const auto [counted_times, counted_end] = run_until_the_end(by_count, 0.0);
  EXPECT_EQ(counted_times, times);
  ASSERT_TRUE(std::holds_alternative<GiveUp>(counted_end));
  EXPECT_EQ(std::get<GiveUp>(counted_end).reason, "retry budget spent (max_attempts 7)");
}

TEST(DeliveryBudget, OneAttemptADayForAWeekStaysSevenAttemptsWithJitter) {
  RetryBudget budget = budget_of({kDay});
  budget.max_age = 7 * kDay;
  const auto [times, end] = run_until_the_end(budget, 0.5);
  EXPECT_EQ(times.size(), 7u);
  EXPECT_TRUE(std::holds_alternative<GiveUp>(end));
  EXPECT_LT(times.back(), kReceived + 7 * kDay);
}

TEST(DeliveryBudget, BackoffFollowsTheScheduleAndTheLastStepRepeats) {
  const RetryBudget budget = budget_of({minutes(1), minutes(5), hours(1)});
  EXPECT_EQ(backoff_delay(1, budget, 0.0), minutes(1));
  EXPECT_EQ(backoff_delay(2, budget, 0.0), minutes(5));
  EXPECT_EQ(backoff_delay(3, budget, 0.0), hours(1));
  EXPECT_EQ(backoff_delay(50, budget, 0.0), hours(1));
  EXPECT_EQ(backoff_delay(0, budget, 0.0), minutes(1)) << "read as the first failure";
}

TEST(DeliveryBudget, JitterStretchesTheDelayByAtMostTenPercent) {
  const RetryBudget budget = budget_of({minutes(10)});
  for (const double jitter : {0.0, 0.1, 0.25, 0.5, 0.75, 0.999999}) {
    const Duration delay = backoff_delay(1, budget, jitter);
    EXPECT_GE(delay, minutes(10)) << jitter;
    EXPECT_LE(delay, minutes(11)) << jitter;
  }
  EXPECT_EQ(backoff_delay(1, budget, 0.5), minutes(10) + seconds(30));
  EXPECT_EQ(backoff_delay(1, budget, 9.0), minutes(11)) << "out-of-range jitter is clamped";
  EXPECT_EQ(backoff_delay(1, budget, -1.0), minutes(10));
}

TEST(DeliveryBudget, RetryWithinTheBudgetComesAfterTheBackoff) {
  RetryBudget budget = budget_of({minutes(1), minutes(5)});
  budget.max_age = hours(1);
  budget.max_attempts = 10;
  const TimePoint now = kReceived + minutes(3);
  const AfterFailure after = after_temporary_failure(failed_once_more(2), now, budget, 0.0);
  ASSERT_TRUE(std::holds_alternative<RetryAt>(after));
  EXPECT_EQ(std::get<RetryAt>(after).at, now + minutes(5));
}

TEST(DeliveryBudget, NoRetryIsScheduledPastTheExpiry) {
  const RetryBudget budget = budget_of({hours(1)});
  SchedulingFacts facts = failed_once_more(1);
  facts.expires = kReceived + minutes(30);
  const AfterFailure after = after_temporary_failure(facts, kReceived, budget, 0.0);
  ASSERT_TRUE(std::holds_alternative<ExpireNow>(after));
  EXPECT_EQ(std::get<ExpireNow>(after).reason,
            "expires at 2023-11-14T22:43:20.000Z, before the next attempt");

  facts.expires = kReceived + hours(2);
  EXPECT_TRUE(
      std::holds_alternative<RetryAt>(after_temporary_failure(facts, kReceived, budget, 0.0)));
}

TEST(DeliveryBudget, AnExpiryBeforeTheBudgetEndsIsReportedAsAnExpiry) {
  RetryBudget budget = budget_of({hours(1)});
  budget.max_attempts = 1;
  SchedulingFacts facts = failed_once_more(1);
  facts.expires = kReceived + minutes(30);
  EXPECT_TRUE(
      std::holds_alternative<ExpireNow>(after_temporary_failure(facts, kReceived, budget, 0.0)));
}

TEST(DeliveryBudget, DeadlineReachedBeforeTheFirstAttemptExpires) {
  SchedulingFacts facts = failed_once_more(0);
  facts.expires = kReceived + hours(1);
  EXPECT_FALSE(expiry_before_attempt(facts, kReceived + minutes(59)));
  EXPECT_EQ(expiry_before_attempt(facts, kReceived + hours(1)),
            "expired at 2023-11-14T23:13:20.000Z before it could be attempted");
  EXPECT_FALSE(expiry_before_attempt(failed_once_more(0), kReceived + 365 * kDay))
      << "no expiry, no hard stop";
}

TEST(DeliveryBudget, ADomainsOwnBudgetReplacesTheDefaults) {
  RetryBudgets budgets;
  budgets.defaults.max_attempts = 3;
  RetryBudget patient = budget_of({kDay});
  patient.max_age = 7 * kDay;
  budgets.per_domain["slow.example"] = patient;
  EXPECT_EQ(budget_for(budgets, "slow.example").max_age, 7 * kDay);
  EXPECT_FALSE(budget_for(budgets, "slow.example").max_attempts);
  EXPECT_EQ(budget_for(budgets, "other.example").max_attempts, 3u);
}

}  // namespace
}  // namespace herald
