#include "queue/attempt_outcome.h"

#include <gtest/gtest.h>

#include "util/time_text.h"

namespace herald {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using Fields = std::vector<std::pair<std::string, std::string>>;

const TimePoint kReceived = from_unix_ms(1'700'000'000'000);

class AttemptOutcomeTest : public ::testing::Test {
 protected:
  AttemptOutcomeTest() {
    budget_.backoff = {minutes(1), minutes(5)};
    budget_.max_age = hours(1);
    message_.id = "01HF5AVZ3R0000000000000000";
    message_.received_at = kReceived;
    delivery_.message_id = message_.id;
    delivery_.recipient = "postmaster@example.test";
    delivery_.mailbox = "alice@example.test";
    delivery_.attempts = 1;
    delivery_.state = DeliveryState::deferred;
  }

  RecordedAttempt record(AttemptResult::Outcome outcome, std::string reply, TimePoint now) {
    AttemptResult r;
    r.outcome = outcome;
    r.reply = std::move(reply);
    if (outcome == AttemptResult::Outcome::delivered) r.fields = {{"mailbox", "/m/new/f"}};
    SchedulingFacts facts;
    facts.arrival = kReceived;
    facts.attempts = delivery_.attempts;
    facts.expires = expires_;
    return record_attempt(delivery_, facts, r, now, budget_, 0.0);
  }

  RetryBudget budget_;
  std::optional<TimePoint> expires_;
  MessageRecord message_;
  Delivery delivery_;
};

TEST_F(AttemptOutcomeTest, DeliveredRecordsTheMailboxFile) {
  const TimePoint now = kReceived + minutes(2);
  const auto r = record(AttemptResult::Outcome::delivered, "2.0.0 delivered to Maildir", now);
  EXPECT_EQ(r.delivery.state, DeliveryState::delivered);
  EXPECT_EQ(r.delivery.attempts, 2u);
  EXPECT_EQ(r.delivery.last_reply, "2.0.0 delivered to Maildir");
  EXPECT_EQ(r.event.type, "delivered");
  EXPECT_EQ(r.event.at, now);
  EXPECT_EQ(r.event.recipient, "alice@example.test");
  EXPECT_EQ(
      r.event.fields,
      (Fields{{"mailbox", "/m/new/f"}, {"reply", "2.0.0 delivered to Maildir"}, {"attempt", "2"}}));
}

TEST_F(AttemptOutcomeTest, PermanentFailureBounces) {
  const auto r = record(AttemptResult::Outcome::permanent, "5.1.3 bad mailbox", kReceived);
  EXPECT_EQ(r.delivery.state, DeliveryState::bounced);
  EXPECT_EQ(r.event.type, "bounced");
  EXPECT_EQ(r.event.fields, (Fields{{"reply", "5.1.3 bad mailbox"}, {"attempt", "2"}}));
  EXPECT_EQ(r.status, "5.1.3");
}

TEST_F(AttemptOutcomeTest, TemporaryFailureDefersToTheNextBackoffStep) {
  const TimePoint now = kReceived + minutes(2);
  const auto r = record(AttemptResult::Outcome::temporary, "4.3.1 mail system full", now);
  EXPECT_EQ(r.delivery.state, DeliveryState::deferred);
  EXPECT_EQ(r.delivery.next_attempt, now + minutes(5));  // second failure, second step
  EXPECT_EQ(r.event.type, "deferred");
  EXPECT_EQ(r.event.fields, (Fields{{"reply", "4.3.1 mail system full"},
                                    {"attempt", "2"},
                                    {"next_attempt", format_utc(now + minutes(5))}}));
}

TEST_F(AttemptOutcomeTest, TemporaryFailureAfterTheBudgetExpires) {
  const auto r =
      record(AttemptResult::Outcome::temporary, "4.3.1 mail system full", kReceived + hours(2));
  EXPECT_EQ(r.delivery.state, DeliveryState::expired);
  EXPECT_EQ(r.delivery.last_reply, "4.3.1 mail system full");
  EXPECT_EQ(r.event.type, "expired");
  EXPECT_EQ(r.event.fields, (Fields{{"reason", "retry budget spent (max_age 1h)"},
                                    {"reply", "4.3.1 mail system full"},
                                    {"attempt", "2"}}));
  EXPECT_EQ(r.status, "4.4.7");  // RFC 3463: delivery time expired, on temporary errors
}

// RFC 2852 4.1 mode R: past the deliver-by time the message is returned, not retried.
TEST_F(AttemptOutcomeTest, TemporaryFailureWhoseRetryWouldPassTheHardStopExpires) {
  expires_ = kReceived + minutes(3);
  const auto r =
      record(AttemptResult::Outcome::temporary, "451 4.3.0 try later", kReceived + minutes(2));
  EXPECT_EQ(r.delivery.state, DeliveryState::expired);
  EXPECT_EQ(r.event.fields.front().first, "reason");
  EXPECT_NE(r.event.fields.front().second.find("before the next attempt"), std::string::npos);
  EXPECT_EQ(r.status, "5.4.7");
}

TEST_F(AttemptOutcomeTest, ExpiryBeforeAnAttemptCountsNoAttempt) {
  const auto r = record_expiry(delivery_, "expired at X before it could be attempted", kReceived);
  EXPECT_EQ(r.delivery.state, DeliveryState::expired);
  EXPECT_EQ(r.delivery.attempts, 1u);
  EXPECT_EQ(r.event.type, "expired");
  EXPECT_EQ(r.status, "5.4.7");
}

TEST(EnhancedStatus, ComesFromTheReplyOrItsClass) {
  EXPECT_EQ(enhanced_status("550 5.1.1 <bob@x>: no such user", true), "5.1.1");
  EXPECT_EQ(enhanced_status("451 4.7.1 greylisted", false), "4.7.1");
  EXPECT_EQ(enhanced_status("4.3.1 mail system full", false), "4.3.1");
  EXPECT_EQ(enhanced_status("554 no enhanced code here", true), "5.0.0");
  EXPECT_EQ(enhanced_status("421 closing", false), "4.0.0");
  EXPECT_EQ(enhanced_status("connection refused", false), "4.0.0");
  EXPECT_EQ(enhanced_status("550 5.1 short", true), "5.0.0");
}

TEST(TimeText, FormatsUtcWithMilliseconds) {
  EXPECT_EQ(format_utc(from_unix_ms(1'700'000'000'123)), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(format_utc(from_unix_ms(0)), "1970-01-01T00:00:00.000Z");
}

}  // namespace
}  // namespace herald
