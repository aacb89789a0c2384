#include "mime/from_domain.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

// The domain found in `headers` (CRLF text, the body added here), or "error: REASON".
std::string from_domain_of(const std::string& headers) {
  const auto found = rfc5322_from_domain(headers + "\r\nFrom: body@not.this.test\r\n");
  if (const auto* error = std::get_if<FromDomainError>(&found)) return "error: " + error->reason;
  return std::get<std::string>(found);
}

TEST(Rfc5322FromDomain, BareAddressAndNameAddrGiveTheDomainInLowerCase) {
  EXPECT_EQ(from_domain_of("From: alice@Example.TEST\r\n"), "example.test");
  EXPECT_EQ(from_domain_of("from: Alice Smith <alice@mail.example.test>\r\n"), "mail.example.test");
  EXPECT_EQ(from_domain_of("FROM : <alice@example.test.>\r\n"), "example.test");
}

TEST(Rfc5322FromDomain, CommentsQuotedStringsAndFoldingDoNotMislead) {
  EXPECT_EQ(from_domain_of("From: \"Smith, John <john@decoy.test>\" <john@example.test>\r\n"),
            "example.test");
  EXPECT_EQ(from_domain_of("From: john@example.test (John (the @decoy.test one))\r\n"),
            "example.test");
  EXPECT_EQ(from_domain_of("From: \"a@b\"@example.test\r\n"), "example.test");
  EXPECT_EQ(from_domain_of("Subject: x\r\nFrom: John\r\n  <john@\r\n example.test>\r\nTo: y\r\n"),
            "example.test");
}

TEST(Rfc5322FromDomain, SeveralAuthorsOfOneDomainGiveIt) {
  EXPECT_EQ(from_domain_of("From: a@example.test, B <b@EXAMPLE.test>\r\n"), "example.test");
  EXPECT_EQ(from_domain_of("From: Team: a@example.test, b@example.test;\r\n"), "example.test");
  EXPECT_EQ(from_domain_of("From: <@relay.test:a@example.test>\r\n"), "example.test");
}

TEST(Rfc5322FromDomain, UnusableFromFieldsAreErrorsAsRfc7489Says) {
  EXPECT_EQ(from_domain_of("To: a@example.test\r\n"), "error: no From field");
  EXPECT_EQ(from_domain_of("From: a@example.test\r\nFrom: b@example.test\r\n"),
            "error: more than one From field");
  EXPECT_EQ(from_domain_of("From: a@example.test, b@other.test\r\n"),
            "error: From names several domains");
  EXPECT_EQ(from_domain_of("From: undisclosed-recipients:;\r\n"),
            "error: From field has no address");
  EXPECT_EQ(from_domain_of("From: alice\r\n"), "error: From address has no domain");
  EXPECT_EQ(from_domain_of("From: a@[192.0.2.1]\r\n"), "error: From address has no domain name");
}

TEST(Rfc5322FromDomain, OnlyTheHeaderSectionIsRead) {
  EXPECT_EQ(from_domain_of("Subject: no author\r\n"), "error: no From field");
}

}  // namespace
}  // namespace herald
