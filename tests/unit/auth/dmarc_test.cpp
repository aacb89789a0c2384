#include "auth/dmarc.h"

#include <gtest/gtest.h>

#include "dns/memory_resolver.h"

namespace herald {
namespace {

// MemoryResolver answers on the calling thread, so discovery is over when the call returns.
DmarcDiscovery discover(MemoryResolver& dns, const std::string& from_domain) {
  std::optional<DmarcDiscovery> found;
  discover_dmarc_policy(dns, from_domain, [&](DmarcDiscovery d) { found = std::move(d); });
  EXPECT_TRUE(found.has_value());
  return found.value_or(DmarcDiscovery{});
}

TEST(DmarcDiscovery, TheFromDomainsOwnRecordComesFirst) {
  MemoryResolver dns;
  dns.add_txt("_dmarc.news.example.com", {"v=DMARC1; p=quarantine"});
  dns.add_txt("_dmarc.example.com", {"v=DMARC1; p=reject"});
  const DmarcDiscovery d = discover(dns, "News.Example.com");
  ASSERT_EQ(d.status, DmarcDiscovery::Status::found);
  EXPECT_EQ(d.record_domain, "news.example.com");
  EXPECT_EQ(d.record->policy, DmarcPolicy::quarantine);
}

// RFC 7489 6.6.3 step 4.
TEST(DmarcDiscovery, WithoutOneTheOrganizationalDomainsRecordApplies) {
  MemoryResolver dns;
  dns.add_txt("_dmarc.example.co.uk", {"v=DMARC1; ", "p=reject"});  // strings are joined
  dns.add_txt("_dmarc.mail.example.co.uk", {"some other TXT record"});
  const DmarcDiscovery d = discover(dns, "mail.example.co.uk");
  ASSERT_EQ(d.status, DmarcDiscovery::Status::found);
  EXPECT_EQ(d.record_domain, "example.co.uk");
  EXPECT_EQ(d.record->policy, DmarcPolicy::reject);
}

TEST(DmarcDiscovery, NoRecordAnywhereIsNone) {
  MemoryResolver dns;
  EXPECT_EQ(discover(dns, "mail.example.org").status, DmarcDiscovery::Status::none);
  EXPECT_EQ(dns.query_count(), 2u);
}

// RFC 7489 6.6.3 step 5: two records mean no policy, not a guess between them.
TEST(DmarcDiscovery, SeveralRecordsAtOneNameCountAsNone) {
  MemoryResolver dns;
  dns.add_txt("_dmarc.example.com", {"v=DMARC1; p=reject"});
  dns.add_txt("_dmarc.example.com", {"v=DMARC1; p=none"});
  const DmarcDiscovery d = discover(dns, "example.com");
  EXPECT_EQ(d.status, DmarcDiscovery::Status::none);
  EXPECT_EQ(d.reason, "several DMARC records at _dmarc.example.com");
}

TEST(DmarcDiscovery, ADnsFailureIsATemporaryErrorNotNone) {
  MemoryResolver dns;
  dns.fail("_dmarc.mail.example.com", DnsStatus::servfail);
  dns.add_txt("_dmarc.example.com", {"v=DMARC1; p=reject"});
  const DmarcDiscovery d = discover(dns, "mail.example.com");
  EXPECT_EQ(d.status, DmarcDiscovery::Status::temperror);
  EXPECT_EQ(dns.query_count(), 1u) << "a failure is not an absent record: no fallback";
}

DmarcDiscovery published(const std::string& record, const std::string& at) {
  DmarcDiscovery d;
  d.status = DmarcDiscovery::Status::found;
  d.record = parse_dmarc_record(record).record;
  d.record_domain = at;
  return d;
}

TEST(DmarcEvaluation, RelaxedAlignmentAcceptsTheSameOrganizationalDomain) {
  const auto policy = published("v=DMARC1; p=reject", "example.com");
  const DmarcVerdict v = evaluate_dmarc({"example.com", "bounces.example.com", {}}, policy, 0);
  EXPECT_TRUE(v.pass);
  EXPECT_TRUE(v.spf_aligned);
  EXPECT_EQ(v.disposition, DmarcPolicy::none);
}

TEST(DmarcEvaluation, StrictAlignmentWantsTheSameName) {
  const auto policy = published("v=DMARC1; p=reject; aspf=s; adkim=s", "example.com");
  const DmarcVerdict v =
      evaluate_dmarc({"example.com", "bounces.example.com", {"mail.example.com"}}, policy, 0);
  EXPECT_FALSE(v.pass);
  EXPECT_EQ(v.disposition, DmarcPolicy::reject);
  EXPECT_TRUE(evaluate_dmarc({"example.com", std::nullopt, {"EXAMPLE.com"}}, policy, 0).pass);
}

TEST(DmarcEvaluation, AForgedFromWithUnrelatedPassesFails) {
  const auto policy = published("v=DMARC1; p=reject", "bank.example");
  const DmarcVerdict v =
      evaluate_dmarc({"bank.example", "attacker.example", {"attacker.example"}}, policy, 0);
  EXPECT_FALSE(v.pass);
  EXPECT_EQ(v.policy, DmarcPolicy::reject);
  EXPECT_EQ(v.disposition, DmarcPolicy::reject);
}

TEST(DmarcEvaluation, SubdomainsFollowSpWhenTheRecordIsTheOrganizations) {
  const auto policy = published("v=DMARC1; p=reject; sp=quarantine", "example.com");
  EXPECT_EQ(evaluate_dmarc({"news.example.com", std::nullopt, {}}, policy, 0).disposition,
            DmarcPolicy::quarantine);
  EXPECT_EQ(evaluate_dmarc({"example.com", std::nullopt, {}}, policy, 0).disposition,
            DmarcPolicy::reject);
}

// RFC 7489 6.6.4: outside the pct= sample the next weaker policy applies.
TEST(DmarcEvaluation, PctSamplesTheMessagesThePolicyAppliesTo) {
  const auto policy = published("v=DMARC1; p=reject; pct=25", "example.com");
  EXPECT_EQ(evaluate_dmarc({"example.com", std::nullopt, {}}, policy, 24).disposition,
            DmarcPolicy::reject);
  EXPECT_EQ(evaluate_dmarc({"example.com", std::nullopt, {}}, policy, 25).disposition,
            DmarcPolicy::quarantine);
}

TEST(DmarcEvaluation, NoPolicyMeansNoVerdict) {
  const DmarcVerdict v = evaluate_dmarc({"example.com", std::nullopt, {}}, DmarcDiscovery{}, 0);
  EXPECT_FALSE(v.pass);
  EXPECT_EQ(v.disposition, DmarcPolicy::none);
}

}  // namespace
}  // namespace herald
