#include "smtp/mx_selection.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

namespace herald {
namespace {

size_t always_zero(size_t) {
  return 0;
}

std::vector<std::string> names(const MxPlan& plan) {
  std::vector<std::string> result;
  for (const MxHost& host : plan.hosts) result.push_back(host.name);
  return result;
}

TEST(MxSelection, HostsAreOrderedByAscendingPreference) {
  const MxPlan plan =
      plan_mx("example.org", {{30, "c.example.org"}, {10, "a.example.org."}, {20, "b.example.org"}},
              {}, always_zero);
  EXPECT_EQ(names(plan),
            (std::vector<std::string>{"a.example.org", "b.example.org", "c.example.org"}));
  EXPECT_FALSE(plan.null_mx);
  EXPECT_FALSE(plan.points_to_self);
}

TEST(MxSelection, EqualPreferencesAreShuffled) {
  const std::vector<MxRecord> records = {{10, "a"}, {10, "b"}, {10, "c"}, {20, "z"}};
  std::mt19937 generator(42);
  const RandomBelow random_below = [&generator](size_t bound) {
    return std::uniform_int_distribution<size_t>(0, bound - 1)(generator);
  };
  std::set<std::vector<std::string>> orders;
  for (int i = 0; i < 200; ++i) {
    const std::vector<std::string> order = names(plan_mx("example.org", records, {}, random_below));
    ASSERT_EQ(order.size(), 4u);
    EXPECT_EQ(order.back(), "z");  // shuffling never crosses preferences
    orders.insert(order);
  }
  EXPECT_EQ(orders.size(), 6u);  // every order of a, b, c turns up
}

TEST(MxSelection, InjectedRandomSourceDecidesTheOrder) {
  const MxPlan plan = plan_mx("example.org", {{5, "a"}, {5, "b"}}, {}, always_zero);
  // Fisher-Yates with 0 swaps the last with the first.
  EXPECT_EQ(names(plan), (std::vector<std::string>{"b", "a"}));
}

TEST(MxSelection, NoMxRecordsMeansTheImplicitMx) {
  const MxPlan plan = plan_mx("Example.ORG", {}, {}, always_zero);
  ASSERT_EQ(plan.hosts.size(), 1u);
  EXPECT_EQ(plan.hosts[0].name, "example.org");
  EXPECT_EQ(plan.hosts[0].preference, 0);
}

TEST(MxSelection, NullMxIsAPermanentFailure) {
  const MxPlan plan = plan_mx("example.org", {{0, "."}}, {}, always_zero);
  EXPECT_TRUE(plan.null_mx);
  EXPECT_TRUE(plan.hosts.empty());
  EXPECT_NE(plan.reason.find("5.1.10"), std::string::npos);
}

TEST(MxSelection, NullMxAmongOtherRecordsIsIgnored) {
  const MxPlan plan = plan_mx("example.org", {{0, "."}, {10, "mx.example.org"}}, {}, always_zero);
  EXPECT_FALSE(plan.null_mx);
  EXPECT_EQ(names(plan), std::vector<std::string>{"mx.example.org"});
}

TEST(MxSelection, SelfAndLessPreferredHostsAreDroppedAndFlagged) {
  const MxPlan plan = plan_mx(
      "example.org",
      {{10, "primary.example.org"}, {20, "Herald.Example.NET."}, {30, "backup.example.org"}},
      {"herald.example.net"}, always_zero);
  EXPECT_TRUE(plan.points_to_self);
  EXPECT_EQ(names(plan), std::vector<std::string>{"primary.example.org"});
  EXPECT_TRUE(plan.reason.empty());
}

TEST(MxSelection, MxPointingOnlyAtSelfIsALoop) {
  const MxPlan plan =
      plan_mx("example.org", {{10, "herald.example.net"}}, {"herald.example.net"}, always_zero);
  EXPECT_TRUE(plan.points_to_self);
  EXPECT_TRUE(plan.hosts.empty());
  EXPECT_NE(plan.reason.find("loop"), std::string::npos);
}

// [outbound] max_mx_hosts: the most preferred hosts are kept, the rest never looked up.
TEST(MxSelection, AtMostMaxHostsAreKeptTheMostPreferred) {
  const MxPlan plan = plan_mx(
      "example.org", {{40, "d"}, {10, "a"}, {30, "c"}, {20, "b"}, {50, "e"}}, {}, always_zero, 3);
  EXPECT_EQ(names(plan), (std::vector<std::string>{"a", "b", "c"}));
}

}  // namespace
}  // namespace herald
