#include "mqtt/topic_tree.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mqtt/topic.h"

namespace herald::mqtt {
namespace {

Subscription sub(SubscriberId who, QoS qos = QoS::at_most_once,
                 std::optional<uint32_t> identifier = std::nullopt) {
  Subscription s;
  s.subscriber = who;
  s.options.max_qos = qos;
  s.identifier = identifier;
  return s;
}

std::vector<SubscriberId> who(const Matches& m) {
  std::vector<SubscriberId> out;
  for (const Recipient& r : m.recipients) out.push_back(r.subscriber);
  return out;
}

using Ids = std::vector<SubscriberId>;

// The matching examples of MQTT 5 4.7.1.2 and 4.7.1.3, each filter held by its own
// subscriber, give what topic_matches() says of each pair: the tree agrees with the
// filter-by-filter rule.
TEST(TopicTree, AgreesWithTopicMatchesOnTheSpecificationsExamples) {
  const std::vector<std::string> filters = {"sport/tennis/player1/#",
                                            "sport/#",
                                            "#",
                                            "sport/tennis/#",
                                            "sport/tennis#x",
                                            "+",
                                            "+/+",
                                            "/+",
                                            "sport/+",
                                            "sport/+/player1",
                                            "+/tennis/#",
                                            "$SYS/#",
                                            "+/monitor/Clients",
                                            "$SYS/monitor/+",
                                            "a//b",
                                            "a/+/b"};
  const std::vector<std::string> topics = {"sport/tennis/player1",
                                           "sport/tennis/player1/ranking",
                                           "sport/tennis/player1/score/wimbledon",
                                           "sport",
                                           "sport/",
                                           "/finance",
                                           "sport/tennis/player2",
                                           "$SYS/monitor/Clients",
                                           "$SYS",
                                           "a//b",
                                           "a/x/b",
                                           "/",
                                           "x"};
  TopicTree tree;
  for (size_t i = 0; i < filters.size(); ++i) {
    if (check_topic_filter(filters[i], TopicLimits{}) != TopicError::none) continue;
    tree.subscribe(filters[i], sub(i));
  }
  for (const std::string& topic : topics) {
    SCOPED_TRACE(topic);
    Ids expected;
    for (size_t i = 0; i < filters.size(); ++i) {
      if (check_topic_filter(filters[i], TopicLimits{}) != TopicError::none) continue;
      if (topic_matches(topic, filters[i])) expected.push_back(i);
    }
    EXPECT_EQ(who(tree.match(topic, std::nullopt)), expected);
  }
}

TEST(TopicTree, WildcardsFirstDoNotMatchDollarTopics) {
  TopicTree tree;
  tree.subscribe("#", sub(1));
  tree.subscribe("+/monitor/Clients", sub(2));
  tree.subscribe("$SYS/#", sub(3));
  tree.subscribe("$SYS/monitor/+", sub(4));
  EXPECT_EQ(who(tree.match("$SYS/monitor/Clients", std::nullopt)), (Ids{3, 4}));
}

// MQTT 5 3.3.4: one copy per subscriber, at the highest QoS of its matching subscriptions,
// carrying every matching subscription identifier.
TEST(TopicTree, OverlappingSubscriptionsGiveOneCopyWithEveryIdentifier) {
  TopicTree tree;
  tree.subscribe("home/#", sub(7, QoS::at_most_once, 20));
  tree.subscribe("home/+/temperature", sub(7, QoS::exactly_once, 5));
  tree.subscribe("home/kitchen/temperature", sub(7, QoS::at_least_once));
  tree.subscribe("home/kitchen/+", sub(8, QoS::at_least_once, 1));
  const Matches m = tree.match("home/kitchen/temperature", std::nullopt);
  ASSERT_EQ(m.recipients.size(), 2u);
  EXPECT_EQ(m.recipients[0], (Recipient{7, QoS::exactly_once, false, {5, 20}}));
  EXPECT_EQ(m.recipients[1], (Recipient{8, QoS::at_least_once, false, {1}}));
}

TEST(TopicTree, RetainAsPublishedWhenAnyMatchingSubscriptionAsksForIt) {
  TopicTree tree;
  Subscription keep = sub(1);
  keep.options.retain_as_published = true;
  tree.subscribe("a/+", keep);
  tree.subscribe("a/b", sub(1));
  tree.subscribe("a/b", sub(2));
  const Matches m = tree.match("a/b", std::nullopt);
  ASSERT_EQ(m.recipients.size(), 2u);
  EXPECT_TRUE(m.recipients[0].retain_as_published);
  EXPECT_FALSE(m.recipients[1].retain_as_published);
}

// MQTT 5 3.8.3.1 [MQTT-3.8.3-3]: a no-local subscription does not get its own messages; the
// subscriber's other subscriptions still do.
TEST(TopicTree, NoLocalLeavesThePublisherOutOfThatSubscriptionOnly) {
  TopicTree tree;
  Subscription quiet = sub(1, QoS::exactly_once, 9);
  quiet.options.no_local = true;
  tree.subscribe("chat/#", quiet);
  tree.subscribe("chat/room", sub(2));
  EXPECT_EQ(who(tree.match("chat/room", 1)), (Ids{2}));
  EXPECT_EQ(who(tree.match("chat/room", 2)), (Ids{1, 2}));
  tree.subscribe("chat/+", sub(1, QoS::at_least_once));
  const Matches own = tree.match("chat/room", 1);
  ASSERT_EQ(who(own), (Ids{1, 2}));
  EXPECT_EQ(own.recipients[0].max_qos, QoS::at_least_once);  // not the no-local one's 2
  EXPECT_TRUE(own.recipients[0].identifiers.empty());
}

// MQTT 5 3.8.4: a second SUBSCRIBE to the same filter replaces the first.
TEST(TopicTree, SubscribingAgainReplaces) {
  TopicTree tree;
  EXPECT_FALSE(tree.subscribe("a/b", sub(1, QoS::at_most_once, 3)));
  EXPECT_TRUE(tree.subscribe("a/b", sub(1, QoS::exactly_once)));
  const Matches m = tree.match("a/b", std::nullopt);
  ASSERT_EQ(m.recipients.size(), 1u);
  EXPECT_EQ(m.recipients[0], (Recipient{1, QoS::exactly_once, false, {}}));
  EXPECT_EQ(tree.filters_of(1), (std::vector<std::string>{"a/b"}));
}

TEST(TopicTree, SharedSubscriptionsAreMatchedAsGroups) {
  TopicTree tree;
  tree.subscribe("$share/workers/jobs/+", sub(1));
  tree.subscribe("$share/workers/jobs/+", sub(2, QoS::at_least_once));
  tree.subscribe("$share/audit/jobs/#", sub(3));
  tree.subscribe("$share/workers/jobs/print", sub(4));  // another filter: another group
  tree.subscribe("jobs/print", sub(5));
  const Matches m = tree.match("jobs/print", std::nullopt);
  EXPECT_EQ(who(m), (Ids{5}));
  ASSERT_EQ(m.shared.size(), 3u);
  EXPECT_EQ(m.shared[0].group, "audit");
  EXPECT_EQ(m.shared[0].filter, "jobs/#");
  EXPECT_EQ(m.shared[1].group, "workers");
  EXPECT_EQ(m.shared[1].filter, "jobs/+");
  EXPECT_EQ(m.shared[1].members, (std::vector<Subscription>{sub(1), sub(2, QoS::at_least_once)}));
  EXPECT_EQ(m.shared[2].filter, "jobs/print");
  // A member may also hold the same filter unshared: two subscriptions.
  EXPECT_FALSE(tree.subscribe("jobs/+", sub(1)));
  EXPECT_EQ(tree.filters_of(1), (std::vector<std::string>{"$share/workers/jobs/+", "jobs/+"}));
}

TEST(TopicTree, UnsubscribeRemovesOnlyWhatWasHeld) {
  TopicTree tree;
  tree.subscribe("a/+", sub(1));
  tree.subscribe("$share/g/a/+", sub(1));
  EXPECT_FALSE(tree.unsubscribe("a/b", 1));  // never subscribed
  EXPECT_FALSE(tree.unsubscribe("a/+", 2));  // someone else's
  EXPECT_FALSE(tree.unsubscribe("$share/h/a/+", 1));
  EXPECT_TRUE(tree.unsubscribe("a/+", 1));
  EXPECT_FALSE(tree.unsubscribe("a/+", 1));
  const Matches m = tree.match("a/x", std::nullopt);
  EXPECT_TRUE(m.recipients.empty());
  ASSERT_EQ(m.shared.size(), 1u);
  EXPECT_TRUE(tree.unsubscribe("$share/g/a/+", 1));
  EXPECT_EQ(tree.match("a/x", std::nullopt), Matches{});
  EXPECT_TRUE(tree.filters_of(1).empty());
}

TEST(TopicTree, RemovingASubscriberTakesAllItsSubscriptions) {
  TopicTree tree;
  tree.subscribe("a/#", sub(1));
  tree.subscribe("a/b", sub(1));
  tree.subscribe("$share/g/a/b", sub(1));
  tree.subscribe("a/b", sub(2));
  tree.remove(1);
  tree.remove(99);  // unknown: nothing happens
  const Matches m = tree.match("a/b", std::nullopt);
  EXPECT_EQ(who(m), (Ids{2}));
  EXPECT_TRUE(m.shared.empty());
  EXPECT_TRUE(tree.filters_of(1).empty());
}

// Many subscribers on long wildcard filters: each publish visits each node once, so a
// hostile set of filters ("+/+/+/…" beside "a/a/a/…") costs what the tree holds, and every
// subscriber that matches is found exactly once.
TEST(TopicTree, DeepWildcardFiltersAreEachFoundOnce) {
  constexpr int kLevels = 64;
  std::string topic = "a";
  for (int i = 1; i < kLevels; ++i) topic += "/a";
  TopicTree tree;
  SubscriberId next = 1;
  // For every level, a filter of '+' up to it and then '#', and one of 'a' up to it.
  for (int depth = 1; depth <= kLevels; ++depth) {
    std::string plus = "+";
    std::string exact = "a";
    for (int i = 1; i < depth; ++i) {
      plus += "/+";
      exact += "/a";
    }
    tree.subscribe(plus + (depth < kLevels ? "/#" : ""), sub(next++));
    tree.subscribe(exact, sub(next++));
  }
  const Matches m = tree.match(topic, std::nullopt);
  // All the '+…/#' filters match, and of the exact ones only the full-length one.
  EXPECT_EQ(m.recipients.size(), static_cast<size_t>(kLevels + 1));
  for (size_t i = 1; i < m.recipients.size(); ++i) {
    EXPECT_LT(m.recipients[i - 1].subscriber, m.recipients[i].subscriber);
  }
}

}  // namespace
}  // namespace herald::mqtt
