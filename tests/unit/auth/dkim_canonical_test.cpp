#include "auth/dkim_canonical.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

// RFC 6376 3.4.5, the example: the same message under each algorithm.
constexpr std::string_view kExample =
    "A: X\r\n"
    "B : Y\t\r\n"
    "\tZ  \r\n"
    "\r\n"
    " C \r\n"
    "D \t E\r\n"
    "\r\n"
    "\r\n";

TEST(DkimCanonicalization, RelaxedHeadersMatchRfc6376Example) {
  const auto parts = split_dkim_message(kExample);
  ASSERT_EQ(parts.headers.size(), 2u);
  EXPECT_EQ(canonicalize_header(parts.headers[0], DkimCanonicalization::relaxed), "a:X\r\n");
  EXPECT_EQ(canonicalize_header(parts.headers[1], DkimCanonicalization::relaxed), "b:Y Z\r\n");
}

TEST(DkimCanonicalization, SimpleHeadersAreUnchanged) {
  const auto parts = split_dkim_message(kExample);
  ASSERT_EQ(parts.headers.size(), 2u);
  EXPECT_EQ(parts.headers[1].name, "B");
  EXPECT_EQ(canonicalize_header(parts.headers[1], DkimCanonicalization::simple),
            "B : Y\t\r\n\tZ  \r\n");
}

TEST(DkimCanonicalization, RelaxedBodyMatchesRfc6376Example) {
  const auto parts = split_dkim_message(kExample);
  EXPECT_EQ(canonicalize_body(parts.body, DkimCanonicalization::relaxed), " C\r\nD E\r\n");
}

TEST(DkimCanonicalization, SimpleBodyMatchesRfc6376Example) {
  const auto parts = split_dkim_message(kExample);
  EXPECT_EQ(canonicalize_body(parts.body, DkimCanonicalization::simple), " C \r\nD \t E\r\n");
}

TEST(DkimCanonicalization, EmptyBodyIsOneCrlfWhenSimpleAndNothingWhenRelaxed) {
  EXPECT_EQ(canonicalize_body("", DkimCanonicalization::simple), "\r\n");
  EXPECT_EQ(canonicalize_body("\r\n\r\n", DkimCanonicalization::simple), "\r\n");
  EXPECT_EQ(canonicalize_body("", DkimCanonicalization::relaxed), "");
  EXPECT_EQ(canonicalize_body(" \t\r\n\r\n", DkimCanonicalization::relaxed), "");
}

TEST(DkimCanonicalization, BodyWithoutFinalCrlfGetsOne) {
  EXPECT_EQ(canonicalize_body("abc", DkimCanonicalization::simple), "abc\r\n");
  EXPECT_EQ(canonicalize_body("abc  ", DkimCanonicalization::relaxed), "abc\r\n");
}

TEST(DkimCanonicalization, MessageWithoutBodyIsAllHeader) {
  const auto parts = split_dkim_message("From: a\r\nTo: b\r\n");
  EXPECT_EQ(parts.headers.size(), 2u);
  EXPECT_TRUE(parts.body.empty());
}

TEST(DkimCanonicalization, BValueIsEmptiedButBhIsKept) {
  EXPECT_EQ(without_b_value("DKIM-Signature: v=1; bh=abc; b=xy\r\n z;\r\n"),
            "DKIM-Signature: v=1; bh=abc; b=;\r\n");
  EXPECT_EQ(without_b_value("DKIM-Signature: b=xyz; d=a\r\n"), "DKIM-Signature: b=; d=a\r\n");
}

TEST(DkimCanonicalization, SignedHeadersAreTakenBottomUpAndMissingOnesAddNothing) {
  const std::string message =
      "Received: 1\r\nFrom: first\r\nSubject: s\r\nfrom: second\r\n"
      "DKIM-Signature: v=1; h=from:from:from:subject; b=xyz\r\n\r\n";
  const auto parts = split_dkim_message(message);
  const std::string input =
      dkim_header_hash_input(parts.headers, {"from", "from", "from", "subject"}, parts.headers[4],
                             DkimCanonicalization::relaxed);
  EXPECT_EQ(input,
            "from:second\r\nfrom:first\r\nsubject:s\r\n"
            "dkim-signature:v=1; h=from:from:from:subject; b=");
}

}  // namespace
}  // namespace herald
