#include "mime/xtext.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

TEST(Xtext, EncodesPlusEqualsSpaceAndNonAsciiAsHex) {
  EXPECT_EQ(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
  EXPECT_EQ(xtext_encode("caf\xC3\xA9"), "caf+C3+A9");
  EXPECT_EQ(xtext_encode("QQ314159@host.example"), "QQ314159@host.example");
}

TEST(Xtext, DecodesWhatItEncodes) {
  const std::string octets = "id=1 +two\x01\xFF";
  EXPECT_EQ(xtext_decode(xtext_encode(octets)), octets);
}

TEST(Xtext, DecodesRfc3461Example) {
  // RFC 3461 4.2: ORCPT=rfc822;Bob+2Bsales@example.com names Bob+sales@example.com.
  EXPECT_EQ(xtext_decode("Bob+2Bsales@example.com"), "Bob+sales@example.com");
}

TEST(Xtext, RejectsWhatIsNotXtext) {
  EXPECT_EQ(xtext_decode("a+2b"), std::nullopt);  // hexchar is upper case only
  EXPECT_EQ(xtext_decode("a+2"), std::nullopt);
  EXPECT_EQ(xtext_decode("a+"), std::nullopt);
  EXPECT_EQ(xtext_decode("a=b"), std::nullopt);
  EXPECT_EQ(xtext_decode("a b"), std::nullopt);
  EXPECT_EQ(xtext_decode("caf\xC3\xA9"), std::nullopt);
}

}  // namespace
}  // namespace herald
