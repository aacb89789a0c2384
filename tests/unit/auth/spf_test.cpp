#include "auth/spf.h"

#include <gtest/gtest.h>

#include "dns/memory_resolver.h"

namespace herald {
namespace {

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

// RFC 7208 5.5: a PTR name whose address lookup fails is skipped and the search goes on.
// (python3-spf ends the check in temperror here: tests/integration/test_spf_agreement.py.)
TEST(SpfCheck, PtrNameWhoseAddressLookupFailsIsSkipped) {
  MemoryResolver resolver;
  resolver.add_txt("example.org", {"v=spf1 ptr -all"});
  resolver.add_ptr("4.2.0.192.in-addr.arpa", "broken.example.org");
  resolver.add_ptr("4.2.0.192.in-addr.arpa", "good.example.org");
  resolver.fail("broken.example.org", DnsStatus::servfail);
  resolver.add_a("good.example.org", "192.0.2.4");
  EXPECT_EQ(check(resolver, "192.0.2.4", "a@example.org").result, SpfResult::pass);
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

TEST(SpfCheck, HeloIdentityChecksTheHeloDomain) {
  MemoryResolver resolver;
  resolver.add_txt("mail.example.org", {"v=spf1 ip4:192.0.2.1 -all"});
  SpfRequest request;
  request.client_ip = "192.0.2.1";
  request.mail_from = "someone@elsewhere.example";
  request.helo = "mail.example.org";
  request.identity = SpfIdentity::helo;
  SpfOutcome outcome = check_spf_blocking(resolver, request);
  EXPECT_EQ(outcome.result, SpfResult::pass);
  EXPECT_EQ(outcome.domain, "mail.example.org");
}

TEST(SpfCheck, IncludeMatchesOnlyOnPassAndRedirectUsesItsTargetsExplanation) {
  MemoryResolver resolver;
  resolver.add_txt("example.org", {"v=spf1 include:partner.example.org redirect=_spf.example.org"});
  resolver.add_txt("partner.example.org", {"v=spf1 ip4:198.51.100.0/24 -all"});
  resolver.add_txt("_spf.example.org", {"v=spf1 -all exp=why.example.org"});
  resolver.add_txt("why.example.org", {"%{i} may not send for %{d}"});
  EXPECT_EQ(check(resolver, "198.51.100.7", "a@example.org").result, SpfResult::pass);
  SpfOutcome outcome = check(resolver, "192.0.2.1", "a@example.org");
  EXPECT_EQ(outcome.result, SpfResult::fail);
  EXPECT_EQ(outcome.explanation, "192.0.2.1 may not send for _spf.example.org");
}

TEST(SpfCheck, ThirdVoidLookupIsPermerror) {
  MemoryResolver resolver;
  resolver.add_txt("example.org", {"v=spf1 a:n1.example.org a:n2.example.org a:n3.example.org"});
  EXPECT_EQ(check(resolver, "192.0.2.1", "a@example.org").result, SpfResult::permerror);
}

TEST(SpfCheck, Ipv4MappedClientMatchesIp4) {
  MemoryResolver resolver;
  resolver.add_txt("example.org", {"v=spf1 ip4:192.0.2.1 -all"});
  EXPECT_EQ(check(resolver, "::ffff:192.0.2.1", "a@example.org").result, SpfResult::pass);
}

TEST(SpfCheck, CheckThatRunsOutOfTimeIsTemperror) {
  MemoryResolver resolver;
  resolver.add_txt("example.org", {"v=spf1 +all"});
  ManualClock clock(TimePoint(std::chrono::seconds(1'700'000'000)));
  SpfOptions options;
  options.clock = &clock;
  options.time_limit = std::chrono::milliseconds(0);
  SpfRequest request;
  request.client_ip = "192.0.2.1";
  request.mail_from = "a@example.org";
  EXPECT_EQ(check_spf_blocking(resolver, request, options).result, SpfResult::temperror);
}

TEST(SpfCheck, TimestampMacroReadsTheInjectedClock) {
  MemoryResolver resolver;
  resolver.add_txt("example.org", {"v=spf1 -all exp=why.example.org"});
  resolver.add_txt("why.example.org", {"refused at %{t}"});
  ManualClock clock(TimePoint(std::chrono::seconds(1'700'000'000)));
  SpfOptions options;
  options.clock = &clock;
  SpfRequest request;
  request.client_ip = "192.0.2.1";
  request.mail_from = "a@example.org";
  EXPECT_EQ(check_spf_blocking(resolver, request, options).explanation, "refused at 1700000000");
}

}  // namespace
}  // namespace herald
