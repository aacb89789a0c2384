#include "auth/arc_set.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

template <class Parsed>
std::string error_of(const std::variant<Parsed, DkimSyntaxError>& parsed) {
  const auto* error = std::get_if<DkimSyntaxError>(&parsed);
  return error == nullptr ? "(parsed)" : error->reason;
}

TEST(ArcAuthenticationResultsParse, InstanceThenPayload) {
  const auto parsed = parse_arc_authentication_results(" i=3; mx.example; spf=pass");
  ASSERT_TRUE(std::holds_alternative<ArcAuthenticationResults>(parsed)) << error_of(parsed);
  EXPECT_EQ(std::get<ArcAuthenticationResults>(parsed).instance, 3);
  EXPECT_EQ(std::get<ArcAuthenticationResults>(parsed).payload, "mx.example; spf=pass");
}

TEST(ArcAuthenticationResultsParse, InstanceMustComeFirstAndEndWithSemicolon) {
  EXPECT_NE(error_of(parse_arc_authentication_results(" mx.example; i=1; spf=pass")), "(parsed)");
  EXPECT_NE(error_of(parse_arc_authentication_results(" i=1 mx.example; spf=pass")), "(parsed)");
  EXPECT_NE(error_of(parse_arc_authentication_results(" i=0; mx.example")), "(parsed)");
  EXPECT_NE(error_of(parse_arc_authentication_results(" i=51; mx.example")), "(parsed)");
}

constexpr const char* kSeal = " a=rsa-sha256; b=AAAA; cv=pass; d=Example.org; i=2; s=sel; t=12345";

TEST(ArcSealParse, TagsAndChainStatus) {
  const auto parsed = parse_arc_seal(kSeal);
  ASSERT_TRUE(std::holds_alternative<ArcSeal>(parsed)) << error_of(parsed);
  const ArcSeal& seal = std::get<ArcSeal>(parsed);
  EXPECT_EQ(seal.instance, 2);
  EXPECT_EQ(seal.chain, ArcChainResult::pass);
  EXPECT_EQ(seal.signature.domain, "example.org");
  EXPECT_EQ(seal.signature.selector, "sel");
  EXPECT_EQ(seal.signature.timestamp, 12345);
  EXPECT_EQ(seal.signature.header_canonicalization, DkimCanonicalization::relaxed);
}

TEST(ArcSealParse, HTagUnknownCvSha1AndMissingTagsAreRefused) {
  EXPECT_EQ(error_of(parse_arc_seal(std::string(kSeal) + "; h=from")),
            "h= is not allowed (RFC 8617 4.1.3)");
  EXPECT_EQ(error_of(parse_arc_seal(" a=rsa-sha256; b=AAAA; cv=Pass; d=e.org; i=1; s=s")),
            "unknown cv=Pass");
  EXPECT_EQ(error_of(parse_arc_seal(" a=rsa-sha1; b=AAAA; cv=none; d=e.org; i=1; s=s")),
            "rsa-sha1 is not accepted (RFC 8301)");
  EXPECT_EQ(error_of(parse_arc_seal(" a=rsa-sha256; b=AAAA; d=e.org; i=1; s=s")),
            "missing required tag cv=");
}

constexpr const char* kMessageSignature =
    " a=rsa-sha256; b=AAAA; bh=AAAA; d=example.org; h=from:to; i=1; s=sel";

TEST(ArcMessageSignatureParse, DefaultsFollowDkim) {
  const auto parsed = parse_arc_message_signature(kMessageSignature);
  ASSERT_TRUE(std::holds_alternative<ArcMessageSignature>(parsed)) << error_of(parsed);
  const ArcMessageSignature& ams = std::get<ArcMessageSignature>(parsed);
  EXPECT_EQ(ams.instance, 1);
  EXPECT_EQ(ams.signature.header_canonicalization, DkimCanonicalization::simple);
  EXPECT_EQ(ams.signature.signed_headers, (std::vector<std::string>{"from", "to"}));
}

TEST(ArcMessageSignatureParse, EmptyHIsAnEmptyListButArcSealMayNotBeSigned) {
  const auto empty =
      parse_arc_message_signature(" a=rsa-sha256; b=AAAA; bh=AAAA; d=example.org; h=; i=1; s=sel");
  ASSERT_TRUE(std::holds_alternative<ArcMessageSignature>(empty)) << error_of(empty);
  EXPECT_TRUE(std::get<ArcMessageSignature>(empty).signature.signed_headers.empty());
  EXPECT_EQ(error_of(parse_arc_message_signature(
                " a=rsa-sha256; b=AAAA; bh=AAAA; d=example.org; h=from:ARC-Seal; i=1; s=sel")),
            "h= includes ARC-Seal");
}

std::vector<DkimHeaderField> fields_of(const std::string& message) {
  return split_dkim_message(message).headers;
}

std::string arc_set(int instance, const std::string& cv) {
  const std::string i = std::to_string(instance);
  return "ARC-Seal: a=rsa-sha256; b=AAAA; cv=" + cv + "; d=e.org; i=" + i + "; s=s\r\n" +
         "ARC-Message-Signature: a=rsa-sha256; b=AAAA; bh=AAAA; d=e.org; h=from; i=" + i +
         "; s=s\r\n" + "ARC-Authentication-Results: i=" + i + "; mx.e.org; spf=pass\r\n";
}

TEST(CollectArcSets, SetsComeOutInInstanceOrder) {
  const std::string message = arc_set(2, "pass") + arc_set(1, "none") + "From: a@e.org\r\n\r\n";
  const ArcChainFields chain = collect_arc_sets(fields_of(message));
  ASSERT_EQ(chain.error, "");
  ASSERT_EQ(chain.sets.size(), 2u);
  EXPECT_EQ(chain.sets[0].instance, 1);
  EXPECT_EQ(chain.sets[1].seal.chain, ArcChainResult::pass);
  EXPECT_EQ(chain.highest_instance, 2);
}

TEST(CollectArcSets, GapsAndDuplicatesBreakTheForm) {
  const std::string gap = arc_set(3, "pass") + arc_set(1, "none") + "\r\n";
  EXPECT_NE(collect_arc_sets(fields_of(gap)).error, "");
  EXPECT_EQ(collect_arc_sets(fields_of(gap)).highest_instance, 3);
  const std::string twice = arc_set(1, "none") + arc_set(1, "none") + "\r\n";
  EXPECT_NE(collect_arc_sets(fields_of(twice)).error, "");
}

TEST(CollectArcSets, NoArcFieldIsNotAnError) {
  const ArcChainFields chain = collect_arc_sets(fields_of("From: a@e.org\r\n\r\nbody\r\n"));
  EXPECT_FALSE(chain.any_arc_field);
  EXPECT_EQ(chain.error, "");
}

TEST(CollectArcSets, OversizedFieldsAndTooManyFieldsStopTheWork) {
  const std::string huge = "ARC-Authentication-Results: i=1; mx.e.org; " +
                           std::string(17 * 1024, 'x') + "\r\n" + arc_set(1, "none") + "\r\n";
  EXPECT_NE(collect_arc_sets(fields_of(huge)).error.find("longer than"), std::string::npos);
  std::string many;
  for (int i = 0; i < 51; ++i) many += arc_set(1, "none");
  EXPECT_NE(collect_arc_sets(fields_of(many + "\r\n")).error.find("more than 150"),
            std::string::npos);
}

}  // namespace
}  // namespace herald
