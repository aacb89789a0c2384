// The test reader of report_reader.h against MimeKit's delivery-status samples
// (shared/conformance/README.md 6.2), so that what it says about herald's own reports
// means what a real parser would say.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "mime/report_reader.h"

namespace herald::test_support {
namespace {

std::string sample(const std::string& name) {
  std::ifstream in(std::string(HERALD_CONFORMANCE_DIR) + "/mimekit/messages/" + name,
                   std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<Fields> status_groups(const std::string& name) {
  const std::vector<ReportPart> parts = parts_of(sample(name));
  const ReportPart* status = part_of_type(parts, "message/delivery-status");
  if (status == nullptr) return {};
  return field_groups(status->body);
}

TEST(ReportReaderConformance, ReadsTheTwoGroupsOfDeliveryStatusTxt) {
  const std::vector<Fields> groups = status_groups("delivery-status.txt");
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0], (Fields{{"Reporting-MTA", "dns; mm1"},
                               {"Arrival-Date", "Mon, 29 Jul 1996 02:12:50 -0700"}}));
  EXPECT_EQ(groups[1], (Fields{{"Final-Recipient", "RFC822; newsletter-request@imusic.com"},
                               {"Action", "failed"},
                               {"Diagnostic-Code", "X-LOCAL; 500 (err.nosuchuser)"}}));
}

TEST(ReportReaderConformance, ReadsGroupsWithoutABlankLineBeforeTheBoundary) {
  EXPECT_EQ(status_groups("delivery-status-no-blank-line.txt"),
            status_groups("delivery-status.txt"));
}

TEST(ReportReaderConformance, ReadsGroupsSeparatedBySeveralBlankLines) {
  const std::vector<Fields> groups = status_groups("delivery-status-multiple-blank-lines.txt");
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(field(groups[0], "Reporting-MTA"), "dns;someserver.com");
  EXPECT_EQ(field(groups[1], "Original-Recipient"), "rfc822;orig_recip@customer.com");
  EXPECT_EQ(field(groups[1], "Status"), "5.5.0");
  EXPECT_EQ(field(groups[1], "Diagnostic-Code"), "smtp;550 Requested action not taken");
}

TEST(ReportReaderConformance, ReadsTheThreePartsOfAnEximBounce) {
  const std::vector<ReportPart> parts = parts_of(sample("delivery-status2.txt"));
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(lower(field(parts[0].headers, "Content-Type")).substr(0, 10), "text/plain");
  EXPECT_EQ(lower(field(parts[2].headers, "Content-Type")).substr(0, 14), "message/rfc822");
  const std::vector<Fields> groups = field_groups(parts[1].body);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(field(groups[1], "Status"), "5.0.0");
  EXPECT_EQ(field(groups[1], "Final-Recipient"), "rfc822;source@domain.com");
}

}  // namespace
}  // namespace herald::test_support
