#include "directory/directory.h"

#include <gtest/gtest.h>

#include "support/example_config.h"

namespace herald {
namespace {

Config config_with_loop() {
  return parse_config(R"(
[server]
hostname = "mx.example.test"
data_dir = "var"
[[listen]]
address = "127.0.0.1:2525"
[[domain]]
name = "example.test"
[[user]]
address = "alice@example.test"
[[user]]
address = "bob@example.test"
[[alias]]
address = "team@example.test"
to = ["alice@example.test", "bob@example.test", "all@example.test"]
[[alias]]
address = "all@example.test"
to = ["team@example.test", "alice@example.test"]
)",
                      "/tmp/herald.toml");
}

TEST(Directory, UserResolvesToTheirMailbox) {
  const Directory d(config_with_loop());
  const auto r = d.lookup("alice@example.test");
  ASSERT_EQ(r.kind, RecipientLookup::Kind::local);
  ASSERT_EQ(r.mailboxes.size(), 1u);
  EXPECT_EQ(r.mailboxes[0].address, "alice@example.test");
  EXPECT_EQ(r.mailboxes[0].local_part, "alice");
  EXPECT_EQ(r.mailboxes[0].domain, "example.test");
}

TEST(Directory, LookupIgnoresCase) {
  const Directory d(config_with_loop());
  EXPECT_EQ(d.lookup("ALICE@Example.TEST").mailboxes.at(0).address, "alice@example.test");
  EXPECT_TRUE(d.is_local_domain("EXAMPLE.test"));
}

TEST(Directory, UnknownUserInLocalDomain) {
  const Directory d(config_with_loop());
  EXPECT_EQ(d.lookup("carol@example.test").kind, RecipientLookup::Kind::unknown_user);
}

TEST(Directory, OtherDomainIsNotLocal) {
  const Directory d(config_with_loop());
  EXPECT_EQ(d.lookup("alice@example.org").kind, RecipientLookup::Kind::not_local);
  EXPECT_EQ(d.lookup("no-at-sign").kind, RecipientLookup::Kind::not_local);
}

TEST(Directory, AliasExpandsToDistinctMailboxesAndSurvivesACycle) {
  const Directory d(config_with_loop());
  const auto r = d.lookup("team@example.test");
  ASSERT_EQ(r.kind, RecipientLookup::Kind::local);
  ASSERT_EQ(r.mailboxes.size(), 2u);
  EXPECT_EQ(r.mailboxes[0].address, "alice@example.test");
  EXPECT_EQ(r.mailboxes[1].address, "bob@example.test");
  EXPECT_EQ(d.lookup("all@example.test").mailboxes.size(), 2u);
}

Config config_with_forwards() {
  return test_support::example_config(R"(
[[user]]
address = "alice@example.test"
[[alias]]
address = "away@example.test"
to = ["Alice.Private@Elsewhere.Test"]
[[alias]]
address = "family@example.test"
to = ["away@example.test", "alice@example.test", "alice.private@elsewhere.test",
      "bob@far.test", "kids@example.test"]
[[alias]]
address = "kids@example.test"
to = ["family@example.test", "bob@far.test", "carol@far.test"]
)");
}

TEST(Directory, AliasToARemoteAddressForwardsThere) {
  const Directory d(config_with_forwards());
  const auto r = d.lookup("AWAY@example.test");
  ASSERT_EQ(r.kind, RecipientLookup::Kind::local);
  EXPECT_TRUE(r.mailboxes.empty());
  EXPECT_EQ(r.forwards, std::vector<std::string>{"alice.private@elsewhere.test"});
}

TEST(Directory, NestedAliasesForwardToDistinctAddressesAndSurviveACycle) {
  const Directory d(config_with_forwards());
  const auto r = d.lookup("family@example.test");
  ASSERT_EQ(r.kind, RecipientLookup::Kind::local);
  ASSERT_EQ(r.mailboxes.size(), 1u);
  EXPECT_EQ(r.mailboxes[0].address, "alice@example.test");
  EXPECT_EQ(r.forwards, (std::vector<std::string>{"alice.private@elsewhere.test", "bob@far.test",
                                                  "carol@far.test"}));
}

TEST(Directory, UsersHaveNoForwards) {
  const Directory d(config_with_forwards());
  EXPECT_TRUE(d.lookup("alice@example.test").forwards.empty());
  EXPECT_TRUE(d.lookup("bob@far.test").forwards.empty());
}

}  // namespace
}  // namespace herald
