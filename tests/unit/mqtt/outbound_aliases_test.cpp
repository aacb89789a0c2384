#include "mqtt/outbound_aliases.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "mqtt/inbound_flow.h"

namespace herald::mqtt {
namespace {

Publish on(std::string topic) {
  Publish p;
  p.topic = std::move(topic);
  return p;
}

TEST(OutboundAliases, TheFirstPublishSetsTheAliasAndLaterOnesUseIt) {
  OutboundAliases aliases(10);
  Publish first = on("home/kitchen/temperature");
  aliases.apply(first);
  EXPECT_EQ(first.topic, "home/kitchen/temperature");
  EXPECT_EQ(first.properties.topic_alias, 1);
  Publish second = on("home/kitchen/temperature");
  aliases.apply(second);
  EXPECT_EQ(second.topic, "");
  EXPECT_EQ(second.properties.topic_alias, 1);
  Publish other = on("home/hall/door");
  aliases.apply(other);
  EXPECT_EQ(other.topic, "home/hall/door");
  EXPECT_EQ(other.properties.topic_alias, 2);
}

TEST(OutboundAliases, AClientTakingNoAliasesGetsNone) {
  OutboundAliases aliases(0);
  Publish p = on("a");
  aliases.apply(p);
  aliases.apply(p);
  EXPECT_EQ(p.topic, "a");
  EXPECT_FALSE(p.properties.topic_alias);
}

// When every alias is taken, the one used longest ago is given to the new topic.
TEST(OutboundAliases, TheAliasUsedLongestAgoIsReplaced) {
  OutboundAliases aliases(2);
  Publish a = on("a"), b = on("b"), a2 = on("a"), c = on("c"), b2 = on("b");
  aliases.apply(a);   // a=1
  aliases.apply(b);   // b=2
  aliases.apply(a2);  // a used again: b is now the oldest
  aliases.apply(c);   // c takes b's alias
  EXPECT_EQ(c.topic, "c");
  EXPECT_EQ(c.properties.topic_alias, 2);
  aliases.apply(b2);  // b is new again: takes a's alias (a used longest ago now)
  EXPECT_EQ(b2.topic, "b");
  EXPECT_EQ(b2.properties.topic_alias, 1);
}

TEST(OutboundAliases, AtMostKMaxOutboundAliasesWhateverTheClientAllows) {
  OutboundAliases aliases(65'535);
  for (int i = 0; i < 1000; ++i) {
    Publish p = on("t/" + std::to_string(i));
    aliases.apply(p);
    ASSERT_TRUE(p.properties.topic_alias);
    EXPECT_LE(*p.properties.topic_alias, kMaxOutboundAliases);
  }
}

// What herald sends, read by a client as herald's own inbound flow reads a client: every
// PUBLISH arrives on its topic, through a long run of topics that keeps replacing aliases.
TEST(OutboundAliases, AReceiverResolvesEveryTopicItWasSent) {
  OutboundAliases aliases(3);
  SessionTerms receiver;
  receiver.server_topic_alias_maximum = 3;
  InboundFlow reader(receiver);
  for (int i = 0; i < 200; ++i) {
    const std::string topic = "t/" + std::to_string((i * 7) % 5);
    Publish p = on(topic);
    aliases.apply(p);
    ASSERT_TRUE(std::holds_alternative<PublishStep>(reader.on_publish(p))) << i;
    EXPECT_EQ(p.topic, topic) << i;
  }
}

}  // namespace
}  // namespace herald::mqtt
