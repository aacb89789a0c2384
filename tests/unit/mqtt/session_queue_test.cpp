#include "mqtt/session_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace herald::mqtt {
namespace {

const TimePoint kNow = from_unix_ms(1'800'000'000'000);

uint64_t sequence = 0;

Outgoing message(int priority, std::optional<TimePoint> expires_at = std::nullopt) {
  auto m = std::make_shared<Message>();
  m->topic = "t";
  m->priority = priority;
  m->sequence = ++sequence;
  m->expires_at = expires_at;
  return Outgoing{m, QoS::at_least_once, false, {}};
}

std::vector<int> drain(SessionQueue& queue) {
  std::vector<int> priorities;
  std::vector<Outgoing> expired;
  while (auto next = queue.pop(kNow, expired)) priorities.push_back(next->message->priority);
  return priorities;
}

TEST(SessionQueueTest, OldestFirstWithinOnePriority) {
  SessionQueue queue(0);
  std::vector<uint64_t> pushed;
  for (int i = 0; i < 5; ++i) {
    queue.push(message(3));
    pushed.push_back(sequence);
  }
  std::vector<Outgoing> expired;
  std::vector<uint64_t> popped;
  while (auto next = queue.pop(kNow, expired)) popped.push_back(next->message->sequence);
  EXPECT_EQ(popped, pushed);
}

TEST(SessionQueueTest, PrioritiesComeOutInOrder) {
  SessionQueue queue(0);
  for (const int p : {0, 5, -3, 5, 9, 0, -9, 12}) queue.push(message(p));
  // 12 counts as 9 (the scale's end) and comes after the 9 that arrived first.
  EXPECT_EQ(drain(queue), (std::vector<int>{9, 12, 5, 5, 0, 0, -3, -9}));
}

TEST(SessionQueueTest, EveryNthPopTakesTheOldestSoLowPriorityIsNeverStarved) {
  SessionQueue queue(4);
  queue.push(message(-9));  // the oldest
  for (int i = 0; i < 10; ++i) queue.push(message(9));
  const std::vector<int> order = drain(queue);
  ASSERT_EQ(order.size(), 11u);
  EXPECT_EQ(order[3], -9) << "the fourth pop takes the oldest message";
  EXPECT_EQ(std::count(order.begin(), order.end(), 9), 10);
}

TEST(SessionQueueTest, ExpiredMessagesAreTakenOutNotSent) {
  SessionQueue queue(0);
  queue.push(message(0, kNow - std::chrono::seconds(1)));
  queue.push(message(0, kNow));  // expires at this instant
  queue.push(message(0, kNow + std::chrono::seconds(1)));
  std::vector<Outgoing> expired;
  const auto next = queue.pop(kNow, expired);
  ASSERT_TRUE(next);
  EXPECT_EQ(*next->message->expires_at, kNow + std::chrono::seconds(1));
  EXPECT_EQ(expired.size(), 2u);
  EXPECT_TRUE(queue.empty());
}

TEST(QueueBudgetTest, ChargesUpToEitherLimitAndGivesBack) {
  QueueBudget budget(2, 100);
  EXPECT_TRUE(budget.try_charge(60));
  EXPECT_FALSE(budget.try_charge(41)) << "bytes over the limit";
  EXPECT_EQ(budget.messages(), 1u);
  EXPECT_TRUE(budget.try_charge(40));
  EXPECT_FALSE(budget.try_charge(0)) << "messages over the limit";
  budget.release(60);
  EXPECT_EQ(budget.messages(), 1u);
  EXPECT_EQ(budget.bytes(), 40u);
  EXPECT_TRUE(budget.try_charge(60));
}

}  // namespace
}  // namespace herald::mqtt
