#include "util/message_id.h"

#include <gtest/gtest.h>

#include <set>

namespace herald {
namespace {

TEST(MessageId, HasTwentySixCrockfordCharacters) {
  const std::string id = new_message_id(std::chrono::system_clock::now());
  EXPECT_EQ(id.size(), 26u);
  EXPECT_TRUE(is_message_id(id));
}

TEST(MessageId, SortsByTime) {
  const auto t = from_unix_ms(1'700'000'000'000);
  const std::string earlier = new_message_id(t);
  const std::string later = new_message_id(t + std::chrono::milliseconds(1));
  EXPECT_LT(earlier, later);
}

TEST(MessageId, IsUniqueWithinOneMillisecond) {
  const auto t = from_unix_ms(1'700'000'000'000);
  std::set<std::string> ids;
  for (int i = 0; i < 10000; ++i) ids.insert(new_message_id(t));
  EXPECT_EQ(ids.size(), 10000u);
}

TEST(MessageId, RejectsOtherShapes) {
  EXPECT_FALSE(is_message_id(""));
  EXPECT_FALSE(is_message_id("01ARZ3NDEKTSV4RRFFQ69G5FA"));   // 25 characters
  EXPECT_FALSE(is_message_id("01ARZ3NDEKTSV4RRFFQ69G5FAU"));  // U is not Crockford base32
  EXPECT_FALSE(is_message_id("81ARZ3NDEKTSV4RRFFQ69G5FAV"));  // over 128 bits
  EXPECT_FALSE(is_message_id("../../etc/passwd0000000000"));
  EXPECT_TRUE(is_message_id("01ARZ3NDEKTSV4RRFFQ69G5FAV"));
}

TEST(MessageIdSequence, IncreasesStrictlyWithinAMillisecondAndWhenTheClockStepsBack) {
  MessageIdSequence sequence;
  const TimePoint t = from_unix_ms(1'700'000'000'000);
  std::string last = sequence.next(t);
  for (int i = 0; i < 10000; ++i) {
    const std::string id = sequence.next(i % 2 == 0 ? t : t - std::chrono::seconds(1));
    ASSERT_GT(id, last);
    ASSERT_TRUE(is_message_id(id));
    last = id;
  }
  EXPECT_GT(sequence.next(t + std::chrono::milliseconds(1)), last);
  EXPECT_LT(last, new_message_id(t + std::chrono::milliseconds(2)));
}

}  // namespace
}  // namespace herald
