#include "auth/organizational_domain.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace herald {
namespace {

TEST(OrganizationalDomain, IsThePublicSuffixPlusOneLabel) {
  EXPECT_EQ(organizational_domain("mail.example.co.uk"), "example.co.uk");
  EXPECT_EQ(organizational_domain("Mail.Example.COM."), "example.com");
  EXPECT_EQ(organizational_domain("example.com"), "example.com");
}

TEST(OrganizationalDomain, APublicSuffixIsItsOwn) {
  EXPECT_EQ(registrable_domain("co.uk"), std::nullopt);
  EXPECT_EQ(organizational_domain("co.uk"), "co.uk");
}

// The Public Suffix List's own test vectors (shared/conformance/psl-publicsuffix/tests.txt:
// "input expected", "null" for none), against Debian's copy of the list.
TEST(OrganizationalDomain, PublicSuffixListTestVectorsPass) {
  std::ifstream file(std::string(HERALD_CONFORMANCE_DIR) + "/psl-publicsuffix/tests.txt");
  ASSERT_TRUE(file) << "conformance data missing";
  size_t passed = 0, total = 0;
  std::string line;
  while (std::getline(file, line)) {
    if (line.empty() || line.starts_with("//")) continue;
    std::istringstream fields(line);
    std::string input, expected;
    fields >> input >> expected;
    if (input == "null") continue;  // a null pointer: nothing to pass in C++
    ++total;
    const auto got = registrable_domain(input);
    const std::string got_text = got.value_or("null");
    if (got_text == expected) {
      ++passed;
    } else {
      ADD_FAILURE() << input << ": expected " << expected << ", got " << got_text;
    }
  }
  std::printf("Public Suffix List test vectors: %zu/%zu passed\n", passed, total);
  EXPECT_GT(total, 70u);
}

}  // namespace
}  // namespace herald
