// The directory's answers for submission: who a login is, and which senders are theirs.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "directory/directory.h"
#include "directory/password_hash.h"

namespace herald {
namespace {

Config config_with_passwords(const std::string& hash) {
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
password_hash = ")" + hash +
                          R"("
[[user]]
address = "bob@example.test"
[[alias]]
address = "team@example.test"
to = ["all@example.test"]
[[alias]]
address = "all@example.test"
to = ["alice@example.test", "bob@example.test"]
[[alias]]
address = "bobs@example.test"
to = ["bob@example.test"]
)",
                      "/tmp/herald.toml");
}

TEST(PasswordHash, EachSchemeMakesAHashThatMatchesOnlyItsPassword) {
  for (const auto& [scheme, prefix] :
       {std::pair{PasswordScheme::yescrypt, "$y$"}, std::pair{PasswordScheme::sha512crypt, "$6$"},
        std::pair{PasswordScheme::bcrypt, "$2b$"}}) {
    const auto hash = make_password_hash("correct horse", scheme);
    ASSERT_TRUE(hash) << prefix;
    EXPECT_EQ(hash->rfind(prefix, 0), 0u) << *hash;
    EXPECT_TRUE(password_matches(*hash, "correct horse")) << *hash;
    EXPECT_FALSE(password_matches(*hash, "correct horsE")) << *hash;
  }
}

TEST(PasswordHash, TwoHashesOfOnePasswordHaveDifferentSalts) {
  EXPECT_NE(make_password_hash("pw", PasswordScheme::sha512crypt),
            make_password_hash("pw", PasswordScheme::sha512crypt));
}

TEST(PasswordHash, EmptyOrMalformedHashMatchesNothing) {
  EXPECT_FALSE(password_matches("", ""));
  EXPECT_FALSE(password_matches("*", ""));
  EXPECT_FALSE(password_matches("!", "x"));
  EXPECT_FALSE(password_matches("$6$nosuchhash", "x"));
}

TEST(PasswordHash, SchemeNames) {
  EXPECT_EQ(password_scheme_from_name("yescrypt"), PasswordScheme::yescrypt);
  EXPECT_EQ(password_scheme_from_name("sha512crypt"), PasswordScheme::sha512crypt);
  EXPECT_EQ(password_scheme_from_name("bcrypt"), PasswordScheme::bcrypt);
  EXPECT_FALSE(password_scheme_from_name("md5"));
}

class DirectoryCredentialsTest : public ::testing::Test {
 protected:
  Directory directory_{
      config_with_passwords(*make_password_hash("secret", PasswordScheme::sha512crypt))};
};

TEST_F(DirectoryCredentialsTest, RightPasswordGivesTheCanonicalAddress) {
  EXPECT_EQ(directory_.authenticate("Alice@Example.test", "secret"), "alice@example.test");
}

TEST_F(DirectoryCredentialsTest, WrongPasswordOrUnknownUserGivesNothing) {
  EXPECT_FALSE(directory_.authenticate("alice@example.test", "Secret"));
  EXPECT_FALSE(directory_.authenticate("nobody@example.test", "secret"));
  EXPECT_FALSE(directory_.authenticate("team@example.test", "secret"));
}

TEST(DirectoryLoginTiming, AnUnknownLoginRunsOneCheckAgainstADummyHashOfTheSameScheme) {
  const std::string hash = *make_password_hash("secret", PasswordScheme::sha512crypt);
  std::vector<std::string> checked;
  const Directory directory(config_with_passwords(hash),
                            [&](std::string_view h, std::string_view password) {
                              checked.emplace_back(h);
                              return password_matches(h, password);
                            });
  EXPECT_FALSE(directory.authenticate("nobody@example.test", "secret"));
  EXPECT_FALSE(directory.authenticate("bob@example.test", "secret"));  // no password_hash
  ASSERT_EQ(checked.size(), 2u);
  for (const std::string& dummy : checked) {
    EXPECT_NE(dummy, hash);
    // sha512crypt with alice's salt and rounds: the same work as checking alice.
    EXPECT_EQ(dummy.substr(0, dummy.rfind('$')), hash.substr(0, hash.rfind('$')));
  }
  EXPECT_TRUE(directory.authenticate("alice@example.test", "secret"));
  EXPECT_EQ(checked.back(), hash);
}

TEST_F(DirectoryCredentialsTest, UserWithoutPasswordHashCannotLogIn) {
  EXPECT_FALSE(directory_.authenticate("bob@example.test", ""));
}

TEST_F(DirectoryCredentialsTest, UserMaySendAsThemselvesInAnyCase) {
  EXPECT_TRUE(directory_.may_send_as("alice@example.test", "ALICE@example.test"));
}

TEST_F(DirectoryCredentialsTest, UserMaySendAsAnAliasThatExpandsToThemEvenIndirectly) {
  EXPECT_TRUE(directory_.may_send_as("alice@example.test", "all@example.test"));
  EXPECT_TRUE(directory_.may_send_as("alice@example.test", "team@example.test"));
}

TEST_F(DirectoryCredentialsTest, UserMayNotSendAsOthers) {
  EXPECT_FALSE(directory_.may_send_as("alice@example.test", "bob@example.test"));
  EXPECT_FALSE(directory_.may_send_as("alice@example.test", "bobs@example.test"));
  EXPECT_FALSE(directory_.may_send_as("alice@example.test", "nobody@example.test"));
  EXPECT_FALSE(directory_.may_send_as("alice@example.test", "alice@elsewhere.example"));
  EXPECT_FALSE(directory_.may_send_as("alice@example.test", ""));
}

}  // namespace
}  // namespace herald
