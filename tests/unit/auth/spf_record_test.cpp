#include "auth/spf_record.h"

#include <gtest/gtest.h>

#include "auth/spf.h"
#include "auth/spf_macro.h"
#include "dns/memory_resolver.h"

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

SpfOutcome check(MemoryResolver& resolver, std::string ip, std::string mail_from) {
  SpfRequest request;
  request.client_ip = std::move(ip);
  request.mail_from = std::move(mail_from);
  request.helo = "mail.example.org";
  return check_spf_blocking(resolver, request);
}

TEST(SpfCheck, ListedAddressPassesOthersFailWithDefaultExplanation) {
  MemoryResolver resolver;
  resolver.add_txt("example.org", {"v=spf1 ip4:192.0.2.0/24 ", "-all"});
  EXPECT_EQ(check(resolver, "192.0.2.9", "a@example.org").result, SpfResult::pass);
  SpfOutcome outcome = check(resolver, "198.51.100.1", "a@example.org");
  EXPECT_EQ(outcome.result, SpfResult::fail);
  EXPECT_EQ(outcome.explanation, SpfOptions{}.default_explanation);
}

TEST(SpfCheck, NoRecordIsNoneAndTwoRecordsArePermerror) {
  MemoryResolver resolver;
  resolver.add_txt("two.example.org", {"v=spf1 -all"});
  resolver.add_txt("two.example.org", {"v=spf1 +all"});
  EXPECT_EQ(check(resolver, "192.0.2.1", "a@none.example.org").result, SpfResult::none);
  EXPECT_EQ(check(resolver, "192.0.2.1", "a@two.example.org").result, SpfResult::permerror);
}

TEST(SpfCheck, DnsTimeoutIsTemperror) {
  MemoryResolver resolver;
  resolver.fail("slow.example.org", DnsStatus::timeout);
  EXPECT_EQ(check(resolver, "192.0.2.1", "a@slow.example.org").result, SpfResult::temperror);
}

TEST(SpfCheck, EleventhDnsTermIsPermerror) {
  MemoryResolver resolver;
  std::string record = "v=spf1";
  for (int i = 0; i < 11; ++i) record += " a:host" + std::to_string(i) + ".example.org";
  resolver.add_txt("example.org", {record + " -all"});
  for (int i = 0; i < 11; ++i)
    resolver.add_a("host" + std::to_string(i) + ".example.org", "198.51.100.1");
  EXPECT_EQ(check(resolver, "192.0.2.1", "a@example.org").result, SpfResult::permerror);
}

TEST(SpfCheck, NullReversePathChecksPostmasterAtHelo) {
  MemoryResolver resolver;
  resolver.add_txt("mail.example.org", {"v=spf1 exists:%{l}.%{d} -all"});
  resolver.add_a("postmaster.mail.example.org", "127.0.0.2");
  EXPECT_EQ(check(resolver, "192.0.2.1", "").result, SpfResult::pass);
}

}  // namespace
}  // namespace herald
