#include "auth/dmarc_record.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

TEST(DmarcRecord, AFullRecordIsRead) {
  const DmarcParse r = parse_dmarc_record(
      "v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=r; pct=50; "
      "rua=mailto:agg@example.com!10m, mailto:b@example.net; ruf=mailto:f@example.com; "
      "fo=1:d; ri=3600");
  ASSERT_TRUE(r.record) << r.error;
  EXPECT_EQ(r.record->policy, DmarcPolicy::reject);
  EXPECT_EQ(r.record->subdomain_policy, DmarcPolicy::quarantine);
  EXPECT_EQ(r.record->dkim_alignment, DmarcAlignment::strict);
  EXPECT_EQ(r.record->spf_alignment, DmarcAlignment::relaxed);
  EXPECT_EQ(r.record->percent, 50u);
  EXPECT_EQ(r.record->aggregate_reports,
            (std::vector<std::string>{"mailto:agg@example.com!10m", "mailto:b@example.net"}));
  EXPECT_EQ(r.record->failure_reports, std::vector<std::string>{"mailto:f@example.com"});
  EXPECT_EQ(r.record->failure_options, "1:d");
  EXPECT_EQ(r.record->report_interval, 3600u);
  EXPECT_TRUE(r.record->ignored.empty());
}

TEST(DmarcRecord, DefaultsApplyToWhatIsNotSaid) {
  const DmarcParse r = parse_dmarc_record("v=DMARC1;p=none");
  ASSERT_TRUE(r.record);
  EXPECT_EQ(r.record->subdomain_policy, std::nullopt);
  EXPECT_EQ(r.record->dkim_alignment, DmarcAlignment::relaxed);
  EXPECT_EQ(r.record->percent, 100u);
  EXPECT_EQ(r.record->report_interval, 86400u);
}

// RFC 7489 6.6.3 step 3: "v=DMARC1" first, exactly.
TEST(DmarcRecord, OnlyARecordStartingWithVDmarc1IsOne) {
  EXPECT_TRUE(is_dmarc_record(" v = DMARC1 ; p=none"));
  EXPECT_FALSE(is_dmarc_record("p=none; v=DMARC1"));
  EXPECT_FALSE(is_dmarc_record("v=DMARC2; p=none"));
  EXPECT_FALSE(is_dmarc_record("v=spf1 -all"));
  EXPECT_FALSE(parse_dmarc_record("p=reject; v=DMARC1").record);
}

// RFC 7489 6.6.3 step 6.
TEST(DmarcRecord, WithoutAValidPolicyARecordWithReportsIsReadAsPNone) {
  const DmarcParse with_rua = parse_dmarc_record("v=DMARC1; p=bogus; rua=mailto:a@example.com");
  ASSERT_TRUE(with_rua.record);
  EXPECT_EQ(with_rua.record->policy, DmarcPolicy::none);
  EXPECT_FALSE(with_rua.record->ignored.empty());
  const DmarcParse without = parse_dmarc_record("v=DMARC1; p=bogus");
  EXPECT_FALSE(without.record);
  EXPECT_EQ(without.error, "the record has no valid p= tag");
  EXPECT_FALSE(parse_dmarc_record("v=DMARC1; p=reject; sp=maybe").record);
}

// RFC 7489 6.3: unknown tags are ignored; bad values of known ones fall back to defaults.
TEST(DmarcRecord, UnknownTagsAreIgnoredAndBadValuesTakeDefaults) {
  const DmarcParse r =
      parse_dmarc_record("v=DMARC1; p=quarantine; future=1; pct=150; adkim=x; ri=soon; fo=9");
  ASSERT_TRUE(r.record);
  EXPECT_EQ(r.record->policy, DmarcPolicy::quarantine);
  EXPECT_EQ(r.record->percent, 100u);
  EXPECT_EQ(r.record->dkim_alignment, DmarcAlignment::relaxed);
  EXPECT_EQ(r.record->report_interval, 86400u);
  EXPECT_EQ(r.record->failure_options, "0");
  EXPECT_EQ(r.record->ignored.size(), 4u);
}

TEST(DmarcRecord, MalformedTagListsAreRefused) {
  EXPECT_EQ(parse_dmarc_record("v=DMARC1; p=none; p=reject").error, "tag 'p' appears twice");
  EXPECT_EQ(parse_dmarc_record("v=DMARC1; p=none; junk").error, "'junk' is not tag=value");
  EXPECT_TRUE(parse_dmarc_record("v=DMARC1; p=none;").record) << "a final ';' is allowed";
}

TEST(DmarcRecord, ReportUrisMustBeUris) {
  const DmarcParse r =
      parse_dmarc_record("v=DMARC1; p=none; rua=agg@example.com, mailto:a@example.com!5x");
  ASSERT_TRUE(r.record);
  EXPECT_TRUE(r.record->aggregate_reports.empty());
  EXPECT_EQ(r.record->ignored.size(), 2u);
}

}  // namespace
}  // namespace herald
