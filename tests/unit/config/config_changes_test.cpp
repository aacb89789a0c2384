#include "config/config_changes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.h"

namespace herald {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr const char* kBefore = R"(
[server]
hostname = "mx.example.test"
data_dir = "var"   # a comment
[[listen]]
address = "127.0.0.1:2525"
[[user]]
address = "alice@example.test"
)";

TEST(ConfigChanges, CommentsSpacingAndKeyOrderAreNoChange) {
  EXPECT_THAT(changed_settings(kBefore, R"(
[server]
data_dir="var"
hostname = "mx.example.test"
[[listen]]
address = "127.0.0.1:2525"
[[user]]
address = "alice@example.test"
)"),
              IsEmpty());
}

TEST(ConfigChanges, NamesKeysOfTablesAndArraysOfTables) {
  EXPECT_THAT(
      changed_settings(kBefore, R"(
[server]
hostname = "mx.example.test"
data_dir = "/srv/herald"
user = "herald"
[[listen]]
address = "127.0.0.1:2526"
[[user]]
address = "alice@example.test"
[limits]
max_recipients = 2
)"),
      ElementsAre("[[listen]]", "[limits] max_recipients", "[server] data_dir", "[server] user"));
}

TEST(ConfigChanges, AnEntryAddedToAnArrayOfTablesIsAChange) {
  const std::string after = std::string(kBefore) + "[[user]]\naddress = \"bob@example.test\"\n";
  EXPECT_THAT(changed_settings(kBefore, after), ElementsAre("[[user]]"));
}

TEST(ConfigChanges, TextThatDoesNotParseIsAConfigError) {
  EXPECT_THROW(changed_settings(kBefore, "[server"), ConfigError);
}

}  // namespace
}  // namespace herald
