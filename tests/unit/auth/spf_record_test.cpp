#include "auth/spf_record.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

SpfRecord parse_ok(std::string_view text) {
  auto parsed = parse_spf_record(text);
  if (auto* error = std::get_if<SpfSyntaxError>(&parsed)) {
    ADD_FAILURE() << text << ": " << error->reason;
    return {};
  }
  return std::get<SpfRecord>(parsed);
}

bool is_syntax_error(std::string_view text) {
  return std::holds_alternative<SpfSyntaxError>(parse_spf_record(text));
}

TEST(SpfRecordParser, VersionIsCaseInsensitiveAndMustEndAtASpace) {
  EXPECT_TRUE(is_spf_record("V=SPF1 -all"));
  EXPECT_TRUE(is_spf_record("v=spf1"));
  EXPECT_FALSE(is_spf_record("v=spf10 -all"));
  EXPECT_FALSE(is_spf_record("v=spf2.0/pra -all"));
}

TEST(SpfRecordParser, MechanismsKeepOrderQualifiersAndArguments) {
  SpfRecord record = parse_ok("v=spf1 +a mx:example.org/24//64 ~ip4:192.0.2.0/24 ?ptr -all");
  ASSERT_EQ(record.mechanisms.size(), 5u);
  EXPECT_EQ(record.mechanisms[0].kind, SpfMechanismKind::a);
  EXPECT_EQ(record.mechanisms[0].domain_spec, "");
  EXPECT_EQ(record.mechanisms[1].kind, SpfMechanismKind::mx);
  EXPECT_EQ(record.mechanisms[1].domain_spec, "example.org");
  EXPECT_EQ(record.mechanisms[1].ip4_prefix, 24);
  EXPECT_EQ(record.mechanisms[1].ip6_prefix, 64);
  EXPECT_EQ(record.mechanisms[2].qualifier, SpfQualifier::softfail);
  EXPECT_EQ(record.mechanisms[2].network, "192.0.2.0");
  EXPECT_EQ(record.mechanisms[3].qualifier, SpfQualifier::neutral);
  EXPECT_EQ(record.mechanisms[4].qualifier, SpfQualifier::fail);
}

TEST(SpfRecordParser, RedirectAndExpAreKeptUnknownModifiersIgnored) {
  SpfRecord record = parse_ok("v=spf1 redirect=_spf.example.org exp=why.%{d} foo=bar");
  EXPECT_EQ(record.redirect, "_spf.example.org");
  EXPECT_EQ(record.explanation, "why.%{d}");
  EXPECT_TRUE(record.mechanisms.empty());
}

TEST(SpfRecordParser, SyntaxErrorsAnywhereRejectTheRecord) {
  EXPECT_TRUE(is_syntax_error("v=spf1 -all."));             // all takes no argument
  EXPECT_TRUE(is_syntax_error("v=spf1 include"));           // include needs a domain
  EXPECT_TRUE(is_syntax_error("v=spf1 a:museum"));          // no "." before the toplabel
  EXPECT_TRUE(is_syntax_error("v=spf1 ip4:192.0.2.1/33"));  // prefix out of range
  EXPECT_TRUE(is_syntax_error("v=spf1 ip4:192.0.2.01"));    // leading zero
  EXPECT_TRUE(is_syntax_error("v=spf1 a//0129"));           // leading zero in prefix
  EXPECT_TRUE(is_syntax_error("v=spf1 redirect=a.org redirect=b.org"));
  EXPECT_TRUE(is_syntax_error("v=spf1 exists:%{x}.example.org"));  // unknown macro letter
  EXPECT_TRUE(is_syntax_error("v=spf1 exists:%{r}.example.org"));  // r only in exp text
  EXPECT_TRUE(is_syntax_error("v=spf1 a:%{l0}.example.org"));      // zero parts
  EXPECT_TRUE(is_syntax_error("v=spf1 foo=%q"));                   // bad escape in modifier
  EXPECT_TRUE(is_syntax_error("v=spf1 -all\tip4:192.0.2.1"));      // only spaces separate
  EXPECT_TRUE(is_syntax_error("v=spf1 frobnicate"));
}

}  // namespace
}  // namespace herald
