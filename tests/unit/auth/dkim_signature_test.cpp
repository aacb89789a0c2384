#include "auth/dkim_signature.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

constexpr std::string_view kMinimal =
    "v=1; a=rsa-sha256; d=example.com; s=sel; h=from:to; bh=AAAA; b=AAAA";

DkimSignature parse_ok(std::string_view text) {
  auto parsed = parse_dkim_signature(text);
  if (auto* error = std::get_if<DkimSyntaxError>(&parsed)) {
    ADD_FAILURE() << "unexpected error: " << error->reason << " for " << text;
    return {};
  }
  return std::get<DkimSignature>(parsed);
}

std::string parse_error(std::string_view text) {
  auto parsed = parse_dkim_signature(text);
  if (auto* error = std::get_if<DkimSyntaxError>(&parsed)) return error->reason;
  ADD_FAILURE() << "parsed but should not have: " << text;
  return {};
}

TEST(DkimSignatureParser, MinimalSignatureTakesTheRfcDefaults) {
  const DkimSignature sig = parse_ok(kMinimal);
  EXPECT_EQ(sig.algorithm, DkimAlgorithm::rsa_sha256);
  EXPECT_EQ(sig.domain, "example.com");
  EXPECT_EQ(sig.selector, "sel");
  EXPECT_EQ(sig.signed_headers, (std::vector<std::string>{"from", "to"}));
  EXPECT_EQ(sig.identity, "@example.com");
  EXPECT_EQ(sig.header_canonicalization, DkimCanonicalization::simple);
  EXPECT_EQ(sig.body_canonicalization, DkimCanonicalization::simple);
  EXPECT_EQ(sig.signature, std::string(3, '\0'));
  EXPECT_FALSE(sig.body_length);
}

TEST(DkimSignatureParser, FoldedValuesAndAllOptionalTagsAreRead) {
  const DkimSignature sig = parse_ok(
      "v=1;\r\n a=ed25519-sha256; c=relaxed/relaxed;\r\n\td=Example.COM; s=Sel;"
      " h=From : Subject; i=joe=40mail.example.com; l=12; q=dns/txt; t=100; x=200;"
      " z=From:foo; bh=AA\r\n AA; b=AA AA;");
  EXPECT_EQ(sig.algorithm, DkimAlgorithm::ed25519_sha256);
  EXPECT_EQ(sig.header_canonicalization, DkimCanonicalization::relaxed);
  EXPECT_EQ(sig.body_canonicalization, DkimCanonicalization::relaxed);
  EXPECT_EQ(sig.domain, "example.com");
  EXPECT_EQ(sig.selector, "sel");
  EXPECT_EQ(sig.signed_headers, (std::vector<std::string>{"from", "subject"}));
  EXPECT_EQ(sig.identity, "joe@mail.example.com");
  EXPECT_EQ(sig.body_length, 12u);
  EXPECT_EQ(sig.timestamp, 100);
  EXPECT_EQ(sig.expiration, 200);
}

TEST(DkimSignatureParser, LoneHeaderCanonicalizationMeansSimpleBody) {
  const DkimSignature sig = parse_ok(std::string(kMinimal) + "; c=relaxed");
  EXPECT_EQ(sig.header_canonicalization, DkimCanonicalization::relaxed);
  EXPECT_EQ(sig.body_canonicalization, DkimCanonicalization::simple);
}

TEST(DkimSignatureParser, UnknownTagsAreIgnored) {
  parse_ok(std::string(kMinimal) + "; zz=what");
}

TEST(DkimSignatureParser, RsaSha1IsParsedSoThatTheVerifierCanRefuseIt) {
  EXPECT_EQ(parse_ok("v=1; a=rsa-sha1; d=e.com; s=s; h=from; bh=AAAA; b=AAAA").algorithm,
            DkimAlgorithm::rsa_sha1);
}

TEST(DkimSignatureParser, EachRequiredTagIsRequired) {
  const std::vector<std::string> tags = {"v=1",    "a=rsa-sha256", "d=example.com", "s=sel",
                                         "h=from", "bh=AAAA",      "b=AAAA"};
  for (size_t missing = 0; missing < tags.size(); ++missing) {
    std::string text;
    for (size_t i = 0; i < tags.size(); ++i)
      if (i != missing) text += tags[i] + "; ";
    EXPECT_EQ(parse_error(text),
              "missing required tag " + tags[missing].substr(0, tags[missing].find('=') + 1));
  }
}

TEST(DkimSignatureParser, DuplicateTagMakesTheSignatureInvalid) {
  EXPECT_EQ(parse_error(std::string(kMinimal) + "; d=other.com"), "duplicate tag d");
}

TEST(DkimSignatureParser, MalformedTagListsAreRejected) {
  parse_error(std::string(kMinimal) + "; novalue");
  parse_error(std::string(kMinimal) + ";;");
  parse_error(std::string(kMinimal) + "; 9x=1");
  parse_error("v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=AA!A; b=AAAA");
}

TEST(DkimSignatureParser, UnsupportedValuesAreRejected) {
  parse_error("v=2; a=rsa-sha256; d=e.com; s=s; h=from; bh=AAAA; b=AAAA");
  parse_error("v=1; a=rsa-md5; d=e.com; s=s; h=from; bh=AAAA; b=AAAA");
  parse_error(std::string(kMinimal) + "; c=future");
  parse_error(std::string(kMinimal) + "; c=relaxed/future");
  parse_error(std::string(kMinimal) + "; q=http");
}

TEST(DkimSignatureParser, FromMustBeSigned) {
  EXPECT_EQ(parse_error("v=1; a=rsa-sha256; d=e.com; s=s; h=to:subject; bh=AAAA; b=AAAA"),
            "h= does not include From");
}

TEST(DkimSignatureParser, IdentityMustBeWithinTheSigningDomain) {
  parse_ok(std::string(kMinimal) + "; i=@example.com");
  parse_ok(std::string(kMinimal) + "; i=user@sub.example.com");
  parse_error(std::string(kMinimal) + "; i=user@badexample.com");
  parse_error(std::string(kMinimal) + "; i=user@example.org");
  parse_error(std::string(kMinimal) + "; i=no-at-sign");
}

TEST(DkimSignatureParser, ExpiryMustFollowTheTimestamp) {
  parse_error(std::string(kMinimal) + "; t=200; x=100");
  parse_error(std::string(kMinimal) + "; t=-1");
  parse_error(std::string(kMinimal) + "; l=12x");
}

std::variant<DkimKeyRecord, DkimSyntaxError> key(std::string_view text) {
  return parse_dkim_key_record(text);
}

TEST(DkimKeyRecordParser, RsaIsTheDefaultKeyType) {
  const auto record = key("p=AAAA");
  ASSERT_TRUE(std::holds_alternative<DkimKeyRecord>(record));
  EXPECT_EQ(std::get<DkimKeyRecord>(record).key_type, DkimKeyRecord::KeyType::rsa);
}

TEST(DkimKeyRecordParser, FlagsServicesAndHashesAreRead) {
  const auto record = key("v=DKIM1; k=ed25519; h=sha256:sha1; s=email:web; t=y:s:q; n=hi; p=AAAA");
  ASSERT_TRUE(std::holds_alternative<DkimKeyRecord>(record));
  const auto& k = std::get<DkimKeyRecord>(record);
  EXPECT_EQ(k.key_type, DkimKeyRecord::KeyType::ed25519);
  EXPECT_EQ(k.hash_algorithms, (std::vector<std::string>{"sha256", "sha1"}));
  EXPECT_TRUE(k.testing);
  EXPECT_TRUE(k.strict_identity);
}

TEST(DkimKeyRecordParser, EmptyPublicKeyMeansRevoked) {
  const auto record = key("v=DKIM1; p=");
  ASSERT_TRUE(std::holds_alternative<DkimKeyRecord>(record));
  EXPECT_TRUE(std::get<DkimKeyRecord>(record).public_key.empty());
}

TEST(DkimKeyRecordParser, BadRecordsAreRejected) {
  EXPECT_TRUE(std::holds_alternative<DkimSyntaxError>(key("v=DKIM1")));  // no p=
  EXPECT_TRUE(
      std::holds_alternative<DkimSyntaxError>(key("k=rsa; v=DKIM1; p=AAAA")));  // v= not first
  EXPECT_TRUE(std::holds_alternative<DkimSyntaxError>(key("v=DKIM3; p=AAAA")));
  EXPECT_TRUE(std::holds_alternative<DkimSyntaxError>(key("v=DKIM1: k=rsa; p=AAAA")));
  EXPECT_TRUE(std::holds_alternative<DkimSyntaxError>(key("k=foobar; p=AAAA")));
  EXPECT_TRUE(std::holds_alternative<DkimSyntaxError>(key("s=chat; p=AAAA")));
  EXPECT_TRUE(std::holds_alternative<DkimSyntaxError>(key("k=rsa; t; p=AAAA")));
  EXPECT_TRUE(std::holds_alternative<DkimSyntaxError>(key("p=AAAA; p=AAAA")));
  EXPECT_TRUE(std::holds_alternative<DkimSyntaxError>(key("p=A*AA")));
}

TEST(DkimBase64, WhitespaceIsIgnoredAndPaddingChecked) {
  EXPECT_EQ(decode_dkim_base64("aGVs\r\n bG8="), "hello");
  EXPECT_EQ(decode_dkim_base64("aGVsbG8"), std::nullopt);
  EXPECT_EQ(decode_dkim_base64("aG=sbG8="), std::nullopt);
  EXPECT_EQ(encode_base64("hello"), "aGVsbG8=");
}

}  // namespace
}  // namespace herald
