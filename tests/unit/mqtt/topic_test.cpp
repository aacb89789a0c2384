#include "mqtt/topic.h"

#include <gtest/gtest.h>

namespace herald::mqtt {
namespace {

const TopicLimits kLimits;

TEST(TopicName, PlainNamesAreValid) {
  EXPECT_EQ(check_topic_name("sport/tennis/player1", kLimits), TopicError::none);
  EXPECT_EQ(check_topic_name("/", kLimits), TopicError::none);  // MQTT 5 4.7.1.1
  EXPECT_EQ(check_topic_name("$SYS/broker", kLimits), TopicError::none);
}

TEST(TopicName, WildcardsAreRefused) {
  EXPECT_EQ(check_topic_name("sport/+", kLimits), TopicError::wildcard_in_name);
  EXPECT_EQ(check_topic_name("sport/#", kLimits), TopicError::wildcard_in_name);
  EXPECT_EQ(check_topic_name("a#b", kLimits), TopicError::wildcard_in_name);
}

TEST(TopicName, EmptyIsRefused) {
  EXPECT_EQ(check_topic_name("", kLimits), TopicError::empty);
}

TEST(TopicName, LimitsOnLengthAndLevelsApply) {
  const TopicLimits limits{.max_length = 5, .max_levels = 2};
  EXPECT_EQ(check_topic_name("a/b", limits), TopicError::none);
  EXPECT_EQ(check_topic_name("abcdef", limits), TopicError::too_long);
  EXPECT_EQ(check_topic_name("a/b/c", limits), TopicError::too_many_levels);
}

TEST(TopicName, ControlCharactersNulAndNonCharactersAreRefused) {
  EXPECT_EQ(check_topic_name(std::string_view("a\0b", 3), kLimits), TopicError::bad_character);
  EXPECT_EQ(check_topic_name("a\x01"
                             "b",
                             kLimits),
            TopicError::bad_character);
  EXPECT_EQ(check_topic_name("a\x7F", kLimits), TopicError::bad_character);
  EXPECT_EQ(check_topic_name("a\xC2\x9F", kLimits), TopicError::bad_character);      // U+009F
  EXPECT_EQ(check_topic_name("a\xEF\xBF\xBF", kLimits), TopicError::bad_character);  // U+FFFF
  EXPECT_EQ(check_topic_name("a\xED\xA0\x80", kLimits), TopicError::bad_character);  // U+D800
  EXPECT_EQ(check_topic_name("\xF0\xAA\x9B\x94", kLimits), TopicError::none);        // U+2A6D4
}

TEST(TopicFilter, WildcardsAloneInTheirLevelAreValid) {
  for (const char* filter : {"#", "+", "sport/#", "sport/+/player1", "+/+", "/+", "+/tennis/#",
                             "$share/group/sport/#"}) {
    EXPECT_EQ(check_topic_filter(filter, kLimits), TopicError::none) << filter;
  }
}

TEST(TopicFilter, MisplacedWildcardsAreRefused) {
  for (const char* filter :
       {"sport/tennis#", "sport/#/ranking", "sport+", "sp+rt/x", "#/a", "++"}) {
    EXPECT_EQ(check_topic_filter(filter, kLimits), TopicError::misplaced_wildcard) << filter;
  }
}

TEST(TopicFilter, SharedSubscriptionNeedsAGroupAndAFilter) {
  for (const char* filter :
       {"$share/", "$share//a", "$share/group", "$share/group/", "$share/gr+oup/a", "$share/#/a"}) {
    EXPECT_EQ(check_topic_filter(filter, kLimits), TopicError::bad_shared_subscription) << filter;
  }
  EXPECT_EQ(check_topic_filter("$share/g/a/#/b", kLimits), TopicError::misplaced_wildcard);
  // Not a shared subscription at all, just a topic starting with '$'.
  EXPECT_EQ(check_topic_filter("$shared/x", kLimits), TopicError::none);
}

TEST(SharedFilter, SplitsGroupAndFilter) {
  const auto shared = split_shared_filter("$share/consumer1/sport/tennis/+");
  ASSERT_TRUE(shared);
  EXPECT_EQ(shared->group, "consumer1");
  EXPECT_EQ(shared->filter, "sport/tennis/+");
  EXPECT_FALSE(split_shared_filter("sport/tennis"));
}

struct MatchCase {
  const char* name;
  const char* filter;
  bool matches;
};

// MQTT 5 4.7.1.2, 4.7.1.3 and 4.7.2's examples, and the edges between them.
const MatchCase kMatches[] = {
    {"sport/tennis/player1", "sport/tennis/player1/#", true},
    {"sport/tennis/player1/ranking", "sport/tennis/player1/#", true},
    {"sport/tennis/player1/score/wimbledon", "sport/tennis/player1/#", true},
    {"sport", "sport/#", true},
    {"sport/tennis/player1", "sport/tennis/+", true},
    {"sport/tennis/player1/ranking", "sport/tennis/+", false},
    {"sport", "sport/+", false},
    {"sport/", "sport/+", true},
    {"/finance", "+/+", true},
    {"/finance", "/+", true},
    {"/finance", "+", false},
    {"a", "#", true},
    {"a/b", "a", false},
    {"a", "a/b", false},
    {"a/b", "a/b", true},
    {"a/b/c", "a/+/c", true},
    {"a//c", "a/+/c", true},
    {"a/b/c", "+/+/+/+", false},
    {"$SYS/monitor/Clients", "#", false},
    {"$SYS/monitor/Clients", "+/monitor/Clients", false},
    {"$SYS/monitor/Clients", "$SYS/#", true},
    {"$SYS/monitor/Clients", "$SYS/monitor/+", true},
    {"Accounts", "accounts", false},
};

TEST(TopicMatch, FollowsTheSpecExamples) {
  for (const MatchCase& c : kMatches) {
    EXPECT_EQ(topic_matches(c.name, c.filter), c.matches) << c.name << " vs " << c.filter;
  }
}

}  // namespace
}  // namespace herald::mqtt
