// Keys that moved to the table issue 8 names ([limits] min_free_space → [queue],
// [limits] max_dkim_signatures → [policy] max_signatures) still work under the old name for
// one release, with a warning; a file that gives both with different values is refused.
#include <gtest/gtest.h>

#include "config/config.h"
#include "config/config_test_support.h"

namespace herald {
namespace {

using config_testing::error_of;
using config_testing::parse;

TEST(ConfigMovedKeys, NewNamesAreReadWithoutWarnings) {
  const Config c = parse("[queue]\nmin_free_space = 0\n[policy]\nmax_signatures = 7\n");
  EXPECT_EQ(c.queue.min_free_space, 0u);
  EXPECT_EQ(c.policy.max_signatures, 7u);
  EXPECT_TRUE(c.warnings.empty());
}

TEST(ConfigMovedKeys, OldMinFreeSpaceIsReadWithOneWarning) {
  const Config c = parse("[limits]\nmin_free_space = 200000000\n");
  EXPECT_EQ(c.queue.min_free_space, 200000000u);
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_EQ(c.warnings[0].rfind("[limits] min_free_space is now [queue] min_free_space", 0), 0u)
      << c.warnings[0];
}

TEST(ConfigMovedKeys, OldMaxDkimSignaturesIsReadWithOneWarning) {
  const Config c = parse("[limits]\nmax_dkim_signatures = 3\n");
  EXPECT_EQ(c.policy.max_signatures, 3u);
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_EQ(c.warnings[0].rfind("[limits] max_dkim_signatures is now [policy] max_signatures", 0),
            0u)
      << c.warnings[0];
}

TEST(ConfigMovedKeys, OldNameIsStillCheckedUnderTheNewNamesBounds) {
  EXPECT_NE(error_of("[limits]\nmax_dkim_signatures = 51\n").find("[policy] 'max_signatures'"),
            std::string::npos);
  EXPECT_NE(error_of("[limits]\nmax_message_size = 1000000\nmin_free_space = 1000\n")
                .find("[queue] 'min_free_space' must be 0"),
            std::string::npos);
}

TEST(ConfigMovedKeys, BothNamesWithTheSameValueAreAcceptedWithTheWarning) {
  const Config c = parse("[limits]\nmax_dkim_signatures = 4\n[policy]\nmax_signatures = 4\n");
  EXPECT_EQ(c.policy.max_signatures, 4u);
  EXPECT_EQ(c.warnings.size(), 1u);
}

TEST(ConfigMovedKeys, BothNamesWithDifferentValuesAreRefused) {
  const std::string e =
      error_of("[limits]\nmin_free_space = 0\n[queue]\nmin_free_space = 200000000\n");
  EXPECT_NE(e.find("herald.toml: [limits] min_free_space = 0 and [queue] min_free_space = "
                   "200000000 disagree"),
            std::string::npos)
      << e;
  const std::string s =
      error_of("[limits]\nmax_dkim_signatures = 3\n[policy]\nmax_signatures = 5\n");
  EXPECT_NE(s.find("[limits] max_dkim_signatures = 3 and [policy] max_signatures = 5 disagree"),
            std::string::npos)
      << s;
}

}  // namespace
}  // namespace herald
