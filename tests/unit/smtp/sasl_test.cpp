#include "smtp/sasl.h"

#include <gtest/gtest.h>

#include <string>

namespace herald {
namespace {

using namespace std::string_literals;

TEST(DecodeBase64, DecodesPaddedAndUnpaddedGroups) {
  EXPECT_EQ(decode_base64("VXNlcm5hbWU6"), "Username:");
  EXPECT_EQ(decode_base64("YQ=="), "a");
  EXPECT_EQ(decode_base64("YWI="), "ab");
  EXPECT_EQ(decode_base64(""), "");
}

TEST(DecodeBase64, DecodesNulOctets) {
  EXPECT_EQ(decode_base64("AGFsaWNlAHNlY3JldA=="), "\0alice\0secret"s);
}

TEST(DecodeBase64, RefusesWhatIsNotStrictBase64) {
  EXPECT_FALSE(decode_base64("YQ"));        // incomplete group
  EXPECT_FALSE(decode_base64("Y==="));      // too much padding
  EXPECT_FALSE(decode_base64("YQ==YQ=="));  // padding before the end
  EXPECT_FALSE(decode_base64("YW*="));      // not in the alphabet
  EXPECT_FALSE(decode_base64("YW I"));      // no spaces inside
}

TEST(ParsePlainMessage, TakesAuthcidAndPasswordWithEmptyAuthzid) {
  const auto credentials = parse_plain_message("\0alice@example.test\0secret"s);
  ASSERT_TRUE(credentials);
  EXPECT_EQ(credentials->login, "alice@example.test");
  EXPECT_EQ(credentials->password, "secret");
}

TEST(ParsePlainMessage, AcceptsAuthzidEqualToAuthcid) {
  EXPECT_TRUE(parse_plain_message("alice\0alice\0secret"s));
}

TEST(ParsePlainMessage, RefusesAuthzidOfAnotherUser) {
  EXPECT_FALSE(parse_plain_message("bob\0alice\0secret"s));
}

TEST(ParsePlainMessage, RefusesMessagesWithoutThreeFields) {
  EXPECT_FALSE(parse_plain_message("alice secret"));
  EXPECT_FALSE(parse_plain_message("\0alice"s));
  EXPECT_FALSE(parse_plain_message("\0\0secret"s));         // empty authcid
  EXPECT_FALSE(parse_plain_message("\0alice\0sec\0ret"s));  // NUL in the password
}

TEST(ParsePlainMessage, AllowsAnEmptyPasswordToBeCheckedAndFail) {
  const auto credentials = parse_plain_message("\0alice\0"s);
  ASSERT_TRUE(credentials);
  EXPECT_EQ(credentials->password, "");
}

}  // namespace
}  // namespace herald
