#include "auth/spf_macro.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

TEST(SpfMacros, ReverseTruncateAndEscape) {
  SpfMacroValues values;
  values.sender = "strong-bad@email.example.com";
  values.local_part = "strong-bad";
  values.sender_domain = "email.example.com";
  values.domain = "email.example.com";
  values.ip = "192.0.2.3";
  // RFC 7208 7.4 examples.
  EXPECT_EQ(expand_spf_macros("%{d4}", values, false), "email.example.com");
  EXPECT_EQ(expand_spf_macros("%{d2}", values, false), "example.com");
  EXPECT_EQ(expand_spf_macros("%{dr}", values, false), "com.example.email");
  EXPECT_EQ(expand_spf_macros("%{l-}", values, false), "strong.bad");
  EXPECT_EQ(expand_spf_macros("%{ir}.%{v}._spf.%{d2}", values, false),
            "3.2.0.192.in-addr._spf.example.com");
  EXPECT_EQ(expand_spf_macros("%{S}", values, false), "strong-bad%40email.example.com");
  EXPECT_EQ(expand_spf_macros("a%_b%-c%%", values, false), "a b%20c%");
  EXPECT_EQ(expand_spf_macros("%{r}", values, false), std::nullopt);
}

}  // namespace
}  // namespace herald
