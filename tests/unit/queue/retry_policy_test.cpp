#include "queue/retry_policy.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

QueueConfig config_with(std::vector<seconds> backoff, seconds max_age) {
  QueueConfig c;
  c.retry_backoff = std::move(backoff);
  c.max_age = max_age;
  return c;
}

const TimePoint kReceived = from_unix_ms(1'700'000'000'000);

TEST(RetryPolicy, EachFailureWaitsTheNextBackoffStepAndTheLastRepeats) {
  const QueueConfig c = config_with({minutes(1), minutes(5), hours(1)}, hours(24 * 5));
  EXPECT_EQ(retry_delay(1, c, 0.0), minutes(1));
  EXPECT_EQ(retry_delay(2, c, 0.0), minutes(5));
  EXPECT_EQ(retry_delay(3, c, 0.0), hours(1));
  EXPECT_EQ(retry_delay(4, c, 0.0), hours(1));
  EXPECT_EQ(retry_delay(1000, c, 0.0), hours(1));
}

TEST(RetryPolicy, JitterStretchesTheDelayByAtMostTenPercent) {
  const QueueConfig c = config_with({minutes(10)}, hours(24));
  EXPECT_EQ(retry_delay(1, c, 0.5), minutes(10) + seconds(30));
  const Duration most = retry_delay(1, c, 0.999999);
  EXPECT_GT(most, minutes(10) + seconds(59));
  EXPECT_LE(most, minutes(11));
  EXPECT_LE(retry_delay(1, c, 7.0), minutes(11)) << "out-of-range jitter is clamped";
  EXPECT_EQ(retry_delay(1, c, -1.0), minutes(10));
}

TEST(RetryPolicy, NextAttemptFollowsTheBackoffWithinTheBudget) {
  const QueueConfig c = config_with({minutes(1), minutes(5)}, hours(1));
  const TimePoint now = kReceived + minutes(3);
  EXPECT_EQ(next_attempt_after_failure(2, kReceived, now, c, 0.0), now + minutes(5));
}

TEST(RetryPolicy, LastRetryIsHeldAtTheDeadlineNotSkipped) {
  const QueueConfig c = config_with({hours(4)}, hours(5));
  const TimePoint now = kReceived + hours(4);
  EXPECT_EQ(next_attempt_after_failure(2, kReceived, now, c, 0.0), kReceived + hours(5));
}

TEST(RetryPolicy, FailureAtOrAfterTheDeadlineExpires) {
  const QueueConfig c = config_with({minutes(1)}, hours(1));
  EXPECT_FALSE(next_attempt_after_failure(3, kReceived, kReceived + hours(1), c, 0.0));
  EXPECT_FALSE(next_attempt_after_failure(3, kReceived, kReceived + hours(30), c, 0.0));
  EXPECT_TRUE(next_attempt_after_failure(3, kReceived, kReceived + hours(1) - seconds(1), c, 0.0));
  EXPECT_EQ(retry_deadline(kReceived, c), kReceived + hours(1));
}

TEST(RetryPolicy, ExpiryReasonNamesTheBudgetAsConfigured) {
  EXPECT_EQ(expiry_reason(config_with({minutes(1)}, hours(24 * 5))),
            "retry budget spent (max_age 5d)");
  EXPECT_EQ(expiry_reason(config_with({minutes(1)}, minutes(90))),
            "retry budget spent (max_age 90m)");
  EXPECT_EQ(expiry_reason(config_with({minutes(1)}, seconds(45))),
            "retry budget spent (max_age 45s)");
}

}  // namespace
}  // namespace herald
