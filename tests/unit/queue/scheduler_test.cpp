#include "queue/scheduler.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace herald {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const TimePoint kT0 = from_unix_ms(1'700'000'000'000);

DeliveryKey key(const std::string& id) {
  return DeliveryKey{id, 0};
}

// Mail to `destination`, received at `arrival` and ready then.
SchedulingFacts mail(const std::string& destination, int priority, TimePoint arrival) {
  SchedulingFacts facts;
  facts.priority = priority;
  facts.arrival = arrival;
  facts.destination = destination;
  facts.next_attempt = arrival;
  return facts;
}

SchedulerConfig limited(uint32_t max_concurrent, uint32_t reserved_for_urgent,
                        uint32_t fair_share_every) {
  SchedulerConfig config;
  config.defaults.max_concurrent = max_concurrent;
  config.defaults.reserved_for_urgent = reserved_for_urgent;
  config.fair_share_every = fair_share_every;
  return config;
}

// The key of the next attempt at `now`, or "" when there is none.
std::string next_attempt(Scheduler& scheduler, TimePoint now) {
  const auto due = scheduler.take_ready(now);
  if (!due) return "";
  EXPECT_EQ(due->action, Due::Action::attempt) << due->key.message_id;
  return due->key.message_id;
}

TEST(Scheduler, PriorityNineOvertakesABacklogOfMinusNineToALimitedDestination) {
  Scheduler scheduler(limited(2, 0, 0));
  for (int i = 0; i < 50; ++i) {
    scheduler.insert(key("low" + std::to_string(i)), mail("slow.example", -9, kT0 + seconds(i)));
  }
  EXPECT_EQ(next_attempt(scheduler, kT0 + minutes(1)), "low0");
  EXPECT_EQ(next_attempt(scheduler, kT0 + minutes(1)), "low1");
  scheduler.insert(key("urgent"), mail("slow.example", 9, kT0 + minutes(2)));
  EXPECT_EQ(next_attempt(scheduler, kT0 + minutes(2)), "") << "both slots are busy";

  scheduler.finished(key("low0"));
  EXPECT_EQ(next_attempt(scheduler, kT0 + minutes(3)), "urgent");
  scheduler.finished(key("low1"));
  EXPECT_EQ(next_attempt(scheduler, kT0 + minutes(3)), "low2");
  EXPECT_EQ(scheduler.waiting(), 47u);
}

TEST(Scheduler, EqualPriorityGoesByDeadlineThenAge) {
  Scheduler scheduler(limited(20, 0, 0));
  SchedulingFacts later_deadline = mail("d.example", 0, kT0 + seconds(3));
  later_deadline.deadline = kT0 + hours(2);
  SchedulingFacts early_deadline = mail("d.example", 0, kT0 + seconds(4));
  early_deadline.deadline = kT0 + hours(1);
  scheduler.insert(key("oldest, no deadline"), mail("d.example", 0, kT0));
  scheduler.insert(key("later deadline"), later_deadline);
  scheduler.insert(key("early deadline"), early_deadline);
  scheduler.insert(key("younger, no deadline"), mail("d.example", 0, kT0 + seconds(1)));
  scheduler.insert(key("higher priority"), mail("d.example", 1, kT0 + seconds(5)));

  const TimePoint now = kT0 + minutes(1);
  std::vector<std::string> order;
  while (auto due = scheduler.take_ready(now)) order.push_back(due->key.message_id);
  EXPECT_EQ(order, (std::vector<std::string>{"higher priority", "early deadline", "later deadline",
                                             "oldest, no deadline", "younger, no deadline"}));
}

TEST(Scheduler, ReservedSlotStartsUrgentMailWhileLowPriorityFillsTheRest) {
  Scheduler scheduler(limited(3, 1, 0));
  for (int i = 0; i < 10; ++i) {
    scheduler.insert(key("bulk" + std::to_string(i)), mail("busy.example", 0, kT0 + seconds(i)));
  }
  const TimePoint now = kT0 + minutes(1);
  EXPECT_EQ(next_attempt(scheduler, now), "bulk0");
  EXPECT_EQ(next_attempt(scheduler, now), "bulk1");
  EXPECT_EQ(next_attempt(scheduler, now), "") << "the third slot is kept for urgent mail";

  scheduler.insert(key("urgent"), mail("busy.example", 3, now));
  EXPECT_EQ(next_attempt(scheduler, now), "urgent");
  scheduler.finished(key("urgent"));
  EXPECT_EQ(next_attempt(scheduler, now), "") << "a free reserved slot is not lent out";

  scheduler.finished(key("bulk0"));
  EXPECT_EQ(next_attempt(scheduler, now), "bulk2");
  EXPECT_EQ(scheduler.in_flight(), 2u);
}

TEST(Scheduler, UrgentMailMayUseEverySlot) {
  Scheduler scheduler(limited(2, 1, 0));
  scheduler.insert(key("a"), mail("x.example", 5, kT0));
  scheduler.insert(key("b"), mail("x.example", 5, kT0));
  scheduler.insert(key("c"), mail("x.example", 5, kT0));
  EXPECT_EQ(next_attempt(scheduler, kT0), "a");
  EXPECT_EQ(next_attempt(scheduler, kT0), "b");
  EXPECT_EQ(next_attempt(scheduler, kT0), "");
}

// One worker takes one delivery at a time while +9 mail keeps arriving for another
// destination: the -9 still starts within fair_share_every picks.
TEST(Scheduler, LowestPriorityIsNeverStarved) {
  constexpr uint32_t kEvery = 4;
  Scheduler scheduler(limited(20, 0, kEvery));
  scheduler.insert(key("lowest"), mail("a.example", -9, kT0));
  scheduler.insert(key("high0"), mail("b.example", 9, kT0 + seconds(1)));
  TimePoint now = kT0 + seconds(1);
  uint32_t picks = 0;
  std::string picked;
  while (picked != "lowest" && picks < 1000) {
    now += seconds(1);
    scheduler.insert(key("high" + std::to_string(picks + 1)), mail("b.example", 9, now));
    picked = next_attempt(scheduler, now);
    ASSERT_FALSE(picked.empty());
    scheduler.finished(key(picked));
    ++picks;
  }
  EXPECT_EQ(picked, "lowest");
  EXPECT_LE(picks, kEvery);
}

TEST(Scheduler, LowestPriorityIsNeverStarvedAtASaturatedDestination) {
  constexpr uint32_t kEvery = 4;
  Scheduler scheduler(limited(2, 1, kEvery));
  scheduler.insert(key("lowest"), mail("x.example", -9, kT0));
  scheduler.insert(key("high0"), mail("x.example", 9, kT0 + seconds(1)));
  scheduler.insert(key("high1"), mail("x.example", 9, kT0 + seconds(1)));
  TimePoint now = kT0 + seconds(1);
  std::vector<std::string> running{next_attempt(scheduler, now), next_attempt(scheduler, now)};
  ASSERT_EQ(running, (std::vector<std::string>{"high0", "high1"}));
  uint32_t picks = 2;
  while (running.back() != "lowest" && picks < 1000) {
    now += seconds(1);
    scheduler.finished(key(running.front()));
    running.erase(running.begin());
    scheduler.insert(key("high" + std::to_string(picks)), mail("x.example", 9, now));
    running.push_back(next_attempt(scheduler, now));
    ASSERT_FALSE(running.back().empty());
    ++picks;
  }
  EXPECT_EQ(running.back(), "lowest");
  EXPECT_LE(picks, kEvery);
}

TEST(Scheduler, InsertingAKeyInFlightEndsItsAttempt) {
  Scheduler scheduler(limited(1, 0, 0));
  scheduler.insert(key("a"), mail("x.example", 0, kT0));
  scheduler.insert(key("b"), mail("x.example", 0, kT0));
  EXPECT_EQ(next_attempt(scheduler, kT0), "a");
  SchedulingFacts retry = mail("x.example", 0, kT0);
  retry.next_attempt = kT0 + minutes(5);
  retry.attempts = 1;
  scheduler.insert(key("a"), retry);
  EXPECT_EQ(scheduler.in_flight(), 0u);
  EXPECT_EQ(next_attempt(scheduler, kT0), "b");
  scheduler.finished(key("b"));
  EXPECT_EQ(next_attempt(scheduler, kT0 + minutes(5)), "a");
}

TEST(Scheduler, WithoutAFairShareStrictPriorityStarvesTheLowest) {
  Scheduler scheduler(limited(20, 0, 0));
  scheduler.insert(key("lowest"), mail("a.example", -9, kT0));
  TimePoint now = kT0;
  for (int i = 0; i < 100; ++i) {
    now += seconds(1);
    scheduler.insert(key("high" + std::to_string(i)), mail("b.example", 9, now));
    const std::string picked = next_attempt(scheduler, now);
    EXPECT_NE(picked, "lowest");
    scheduler.finished(key(picked));
  }
}

TEST(Scheduler, FairShareHonoursTheReservedSlots) {
  // On a fair turn the oldest delivery that may start goes: with the low-priority share full,
  // that is the urgent one, however old the low-priority mail behind it.
  Scheduler scheduler(limited(2, 1, 2));
  scheduler.insert(key("older low"), mail("x.example", -9, kT0 - seconds(1)));
  scheduler.insert(key("old low"), mail("x.example", -9, kT0));
  EXPECT_EQ(next_attempt(scheduler, kT0), "older low");
  EXPECT_EQ(next_attempt(scheduler, kT0), "") << "the other slot is reserved";
  scheduler.insert(key("urgent"), mail("x.example", 9, kT0 + seconds(1)));
  EXPECT_EQ(next_attempt(scheduler, kT0 + seconds(1)), "urgent") << "a fair turn";
  scheduler.finished(key("older low"));
  EXPECT_EQ(next_attempt(scheduler, kT0 + seconds(2)), "old low");
}

TEST(Scheduler, RateLimitSpacesAttemptsToOneDestination) {
  SchedulerConfig config = limited(20, 0, 0);
  DestinationLimits slow;
  slow.rate_attempts = 2;  // two a minute: a burst of two, then one every 30 s
  slow.rate_interval = minutes(1);
  config.destinations["rate.example"] = slow;
  Scheduler scheduler(config);
  for (int i = 0; i < 5; ++i) {
    scheduler.insert(key("r" + std::to_string(i)), mail("rate.example", 0, kT0 + seconds(i)));
  }
  const TimePoint start = kT0 + seconds(10);
  EXPECT_EQ(next_attempt(scheduler, start), "r0");
  EXPECT_EQ(next_attempt(scheduler, start), "r1");
  EXPECT_EQ(next_attempt(scheduler, start), "");
  EXPECT_EQ(scheduler.next_wakeup(), start + seconds(30));

  scheduler.insert(key("elsewhere"), mail("other.example", 0, start));
  EXPECT_EQ(next_attempt(scheduler, start + seconds(1)), "elsewhere")
      << "a rate-limited destination does not hold up others";
  EXPECT_EQ(next_attempt(scheduler, start + seconds(29)), "");
  EXPECT_EQ(next_attempt(scheduler, start + seconds(30)), "r2");
  EXPECT_EQ(next_attempt(scheduler, start + seconds(30)), "");
  EXPECT_EQ(scheduler.next_wakeup(), start + seconds(60));
  EXPECT_EQ(next_attempt(scheduler, start + seconds(60)), "r3");
}

TEST(Scheduler, NoAttemptIsScheduledPastTheDeadline) {
  Scheduler scheduler(limited(1, 0, 0));
  SchedulingFacts retry_after_expiry = mail("x.example", 0, kT0);
  retry_after_expiry.next_attempt = kT0 + hours(2);
  retry_after_expiry.expires = kT0 + hours(1);
  scheduler.insert(key("late"), retry_after_expiry);
  EXPECT_EQ(scheduler.next_wakeup(), kT0 + hours(1));
  EXPECT_FALSE(scheduler.take_ready(kT0 + hours(1) - seconds(1)));
  const auto due = scheduler.take_ready(kT0 + hours(1));
  ASSERT_TRUE(due);
  EXPECT_EQ(due->key.message_id, "late");
  EXPECT_EQ(due->action, Due::Action::expire);
  EXPECT_EQ(scheduler.waiting(), 0u);
  EXPECT_FALSE(scheduler.take_ready(kT0 + hours(3)));
}

TEST(Scheduler, DeliveryBehindABusySlotExpiresWithoutWaitingForIt) {
  Scheduler scheduler(limited(1, 0, 0));
  scheduler.insert(key("running"), mail("x.example", 0, kT0));
  SchedulingFacts waiting = mail("x.example", 0, kT0);
  waiting.expires = kT0 + minutes(10);
  scheduler.insert(key("waiting"), waiting);
  EXPECT_EQ(next_attempt(scheduler, kT0), "running");
  EXPECT_EQ(next_attempt(scheduler, kT0 + minutes(9)), "");
  EXPECT_EQ(scheduler.next_wakeup(), kT0 + minutes(10));
  const auto due = scheduler.take_ready(kT0 + minutes(10));
  ASSERT_TRUE(due);
  EXPECT_EQ(due->action, Due::Action::expire);
  EXPECT_EQ(scheduler.in_flight(), 1u);
}

TEST(Scheduler, NothingIsOfferedBeforeItsNextAttempt) {
  Scheduler scheduler(limited(20, 0, 0));
  SchedulingFacts retry = mail("x.example", 0, kT0);
  retry.next_attempt = kT0 + minutes(5);
  retry.attempts = 1;
  scheduler.insert(key("retry"), retry);
  EXPECT_EQ(scheduler.next_wakeup(), kT0 + minutes(5));
  EXPECT_EQ(next_attempt(scheduler, kT0 + minutes(4)), "");
  EXPECT_EQ(next_attempt(scheduler, kT0 + minutes(5)), "retry");
  scheduler.finished(key("retry"));
  EXPECT_EQ(scheduler.in_flight(), 0u);
}

TEST(Scheduler, InsertingAWaitingKeyAgainReplacesIt) {
  Scheduler scheduler(limited(20, 0, 0));
  scheduler.insert(key("m"), mail("x.example", 0, kT0));
  SchedulingFacts later = mail("x.example", 0, kT0);
  later.next_attempt = kT0 + hours(1);
  scheduler.insert(key("m"), later);
  EXPECT_EQ(scheduler.waiting(), 1u);
  EXPECT_EQ(next_attempt(scheduler, kT0 + minutes(1)), "");
  EXPECT_EQ(next_attempt(scheduler, kT0 + hours(1)), "m");
}

TEST(Scheduler, NextWakeupIsEmptyWhenOnlyBusySlotsHoldThingsUp) {
  Scheduler scheduler(limited(1, 0, 0));
  scheduler.insert(key("a"), mail("x.example", 0, kT0));
  scheduler.insert(key("b"), mail("x.example", 0, kT0));
  EXPECT_EQ(next_attempt(scheduler, kT0), "a");
  EXPECT_EQ(next_attempt(scheduler, kT0), "");
  EXPECT_FALSE(scheduler.next_wakeup());
  scheduler.finished(key("a"));
  EXPECT_LE(scheduler.next_wakeup(), kT0);
  EXPECT_EQ(next_attempt(scheduler, kT0), "b");
}

// One SMTP transaction carries every recipient of a message in one domain.
TEST(Scheduler, CompanionsAreTheSameMessagesReadyDeliveriesToTheSameDestination) {
  Scheduler scheduler(limited(1, 0, 0));
  const auto at = [](const std::string& id, uint32_t index) { return DeliveryKey{id, index}; };
  scheduler.insert(at("m1", 0), mail("a.example", 0, kT0));
  scheduler.insert(at("m1", 1), mail("a.example", 0, kT0));
  scheduler.insert(at("m1", 2), mail("b.example", 0, kT0));
  SchedulingFacts later = mail("a.example", 0, kT0);
  later.next_attempt = kT0 + hours(1);
  scheduler.insert(at("m1", 3), later);
  scheduler.insert(at("m1", 4), mail("a.example", 0, kT0));
  scheduler.insert(at("m2", 0), mail("a.example", 0, kT0));

  const auto due = scheduler.take_ready(kT0);
  ASSERT_TRUE(due);
  ASSERT_EQ(due->key, at("m1", 0));
  EXPECT_EQ(scheduler.take_companions(due->key, kT0, 1), std::vector<DeliveryKey>{at("m1", 1)});
  EXPECT_EQ(scheduler.take_companions(due->key, kT0, 10), std::vector<DeliveryKey>{at("m1", 4)});
  EXPECT_EQ(scheduler.waiting(), 3u);  // m1/2 (another domain), m1/3 (not yet), m2/0
  EXPECT_EQ(scheduler.in_flight(), 1u);
  EXPECT_EQ(next_attempt(scheduler, kT0), "m1") << "m1/2 goes to another destination";
  EXPECT_EQ(next_attempt(scheduler, kT0), "") << "a.example's one slot is the group's";
  scheduler.finished(due->key);
  EXPECT_EQ(next_attempt(scheduler, kT0), "m2");
}

// One SMTP transaction has one MAIL FROM: a copy an alias forwards with an SRS sender does not
// ride with the message's other deliveries to the same domain, nor they with it.
TEST(Scheduler, CompanionsShareTheLeadsEnvelopeSender) {
  Scheduler scheduler(limited(2, 0, 0));
  const auto at = [](const std::string& id, uint32_t index) { return DeliveryKey{id, index}; };
  SchedulingFacts forwarded = mail("a.example", 0, kT0);
  forwarded.envelope_sender = "SRS0=abcd=JS=sender.test=someone@mx.example.test";
  scheduler.insert(at("m1", 0), mail("a.example", 0, kT0));
  scheduler.insert(at("m1", 1), forwarded);
  scheduler.insert(at("m1", 2), mail("a.example", 0, kT0));
  scheduler.insert(at("m1", 3), forwarded);

  const auto first = scheduler.take_ready(kT0);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->key, at("m1", 0));
  EXPECT_EQ(scheduler.take_companions(first->key, kT0, 10), std::vector<DeliveryKey>{at("m1", 2)});
  const auto second = scheduler.take_ready(kT0);
  ASSERT_TRUE(second);
  ASSERT_EQ(second->key, at("m1", 1));
  EXPECT_EQ(scheduler.take_companions(second->key, kT0, 10), std::vector<DeliveryKey>{at("m1", 3)});
  EXPECT_EQ(scheduler.waiting(), 0u);
}

}  // namespace
}  // namespace herald
