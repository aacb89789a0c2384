// The list of wills waiting out their delay, on its own: what each call does to what the
// sweep takes, and stamp() setting a will's times at its publication.
#include "mqtt/pending_wills.h"

#include <gtest/gtest.h>

#include "mqtt/session_test_support.h"

namespace herald::mqtt {
namespace {

PendingWill will(const std::string& client_id, const std::string& payload, TimePoint due) {
  auto message = std::make_shared<Message>();
  message->topic = "wills/" + client_id;
  message->payload = payload;
  return PendingWill{.message = std::move(message), .due = due, .client_id = client_id};
}

std::vector<std::string> payloads(const std::vector<PendingWill>& wills) {
  std::vector<std::string> out;
  for (const PendingWill& w : wills) out.push_back(w.message->payload);
  return out;
}

using Payloads = std::vector<std::string>;
constexpr auto kSecond = std::chrono::seconds(1);

TEST(PendingWillsTest, WillsComeDueInTheOrderOfTheirTimes) {
  PendingWills wills;
  wills.add(will("b", "b", kStart + 5 * kSecond));
  wills.add(will("a", "a", kStart + 2 * kSecond));
  wills.add(will("c", "c", kStart + 9 * kSecond));
  EXPECT_TRUE(wills.take_due(kStart + kSecond).empty());
  EXPECT_EQ(payloads(wills.take_due(kStart + 5 * kSecond)), (Payloads{"a", "b"}));
  EXPECT_EQ(wills.size(), 1u);
  wills.cancel("b");  // taken already: nothing to cancel
  EXPECT_EQ(payloads(wills.take_due(kStart + 9 * kSecond)), Payloads{"c"});
}

TEST(PendingWillsTest, ACancelledWillIsNeverTakenAndALaterOneReplacesAnEarlier) {
  PendingWills wills;
  wills.add(will("pump", "first", kStart + kSecond));
  wills.add(will("pump", "second", kStart + 3 * kSecond));
  EXPECT_EQ(wills.size(), 1u);
  EXPECT_EQ(payloads(wills.take_due(kStart + 3 * kSecond)), Payloads{"second"});
  wills.add(will("pump", "third", kStart + kSecond));
  wills.cancel("pump");
  EXPECT_EQ(wills.size(), 0u);
  EXPECT_TRUE(wills.take_due(TimePoint::max()).empty());
}

TEST(PendingWillsTest, AnEndedSessionsWillIsDueAtOnceAndANewSessionCannotCancelIt) {
  PendingWills wills;
  wills.add(will("pump", "old session", kStart + std::chrono::hours(1)));
  wills.end_session("pump");
  wills.add(will("pump", "new session", kStart + std::chrono::hours(1)));
  wills.cancel("pump");  // the new session resumed: only its own will goes
  wills.add_ended(will("valve", "ended before it could wait", kStart + std::chrono::hours(1)));
  EXPECT_EQ(payloads(wills.take_due(kStart)),
            (Payloads{"old session", "ended before it could wait"}));
  EXPECT_EQ(wills.size(), 0u);
}

TEST(PendingWillsTest, StampSetsTheTimesOfThePublication) {
  PendingWill waiting = will("pump", "gone", kStart);
  waiting.expiry_interval = 30;
  const TimePoint published = kStart + std::chrono::minutes(5);
  const SharedMessage message = stamp(waiting, published, 42);
  EXPECT_FALSE(waiting.message);
  EXPECT_EQ(message->received, published);
  EXPECT_EQ(message->expires_at, published + std::chrono::seconds(30));
  EXPECT_EQ(message->sequence, 42u);
  PendingWill lasting = will("valve", "gone", kStart);
  EXPECT_FALSE(stamp(lasting, published, 43)->expires_at) << "no expiry interval, no expiry";
}

}  // namespace
}  // namespace herald::mqtt
