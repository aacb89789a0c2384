#include "mime/dsn.h"

#include <gtest/gtest.h>

#include <deque>
#include <string_view>

#include "mime/report_reader.h"
#include "support/pieced_body.h"

namespace herald {
namespace {

using test_support::field;
using test_support::field_groups;
using test_support::Fields;
using test_support::parts_of;
using test_support::ReportPart;

const TimePoint kArrival = from_unix_ms(1'700'000'000'000);  // Tue, 14 Nov 2023 22:13:20
const std::string kContent =
    "From: Bob <bob@sender.test>\r\n"
    "To: alice@example.test\r\n"
    "Subject: hello\r\n"
    "\r\n"
    "Hi Alice\r\n";

// The content of an original, kept for the whole test run (DsnOriginal points to it).
const MessageContent* content_of(std::string_view text) {
  static std::deque<MessageContent> kept;
  return &kept.emplace_back(MessageContent::from_text(text));
}

DsnOriginal original() {
  DsnOriginal o;
  o.envelope_sender = "bob@sender.test";
  o.arrival = kArrival;
  o.content = content_of(kContent);
  o.body_type = "7BIT";
  return o;
}

DsnRecipient failed_recipient() {
  DsnRecipient r;
  r.final_recipient = "alice@example.test";
  r.action = DsnAction::failed;
  r.status = "5.1.1";
  r.remote_mta = "mx.example.test";
  r.diagnostic_code = "smtp; 550 5.1.1 no such user";
  r.last_attempt = kArrival + std::chrono::minutes(5);
  return r;
}

DsnRequest request(std::vector<DsnRecipient> recipients) {
  DsnRequest r;
  r.reporting_mta = "relay.herald.test";
  r.id = "01HF7YAT00ABCDEFGHJKMNPQRS";
  r.now = kArrival + std::chrono::hours(1);
  r.recipients = std::move(recipients);
  return r;
}

Fields top_headers(const std::string& message) {
  return test_support::read_fields(test_support::lines_of(message), 0, nullptr);
}

std::vector<Fields> status_groups(const std::string& message) {
  const std::vector<ReportPart> parts = parts_of(message);
  return parts.size() == 3 ? field_groups(parts[1].body) : std::vector<Fields>{};
}

TEST(Dsn, IsSentFromTheNullReversePathToTheOriginalSender) {
  const DsnMessage dsn = build_dsn(original(), request({failed_recipient()}));
  EXPECT_EQ(dsn.envelope_sender, "");
  EXPECT_EQ(dsn.recipient, "bob@sender.test");
  EXPECT_FALSE(dsn.needs_8bitmime);
  EXPECT_FALSE(dsn.needs_smtputf8);
}

TEST(Dsn, FailureReportHasTheHeadersOfAnAutomaticMultipartReport) {
  const DsnMessage dsn = build_dsn(original(), request({failed_recipient()}));
  const Fields headers = top_headers(dsn.content);
  ASSERT_EQ(headers.size(), 8u);
  EXPECT_EQ(headers[0], (std::pair<std::string, std::string>(
                            "From", "\"Mail Delivery System\" <MAILER-DAEMON@relay.herald.test>")));
  EXPECT_EQ(field(headers, "To"), "<bob@sender.test>");
  EXPECT_EQ(field(headers, "Subject"), "Undelivered Mail Returned to Sender");
  EXPECT_EQ(field(headers, "Date"), "Tue, 14 Nov 2023 23:13:20 +0000");
  EXPECT_EQ(field(headers, "Message-ID"), "<01HF7YAT00ABCDEFGHJKMNPQRS@relay.herald.test>");
  EXPECT_EQ(field(headers, "MIME-Version"), "1.0");
  EXPECT_EQ(field(headers, "Auto-Submitted"), "auto-replied");
  EXPECT_EQ(field(headers, "Content-Type"),
            "multipart/report; report-type=delivery-status; "
            "boundary=\"=_herald_dsn_01HF7YAT00ABCDEFGHJKMNPQRS_0\"");
}

TEST(Dsn, FailureReportHasTextStatusAndOriginalParts) {
  const DsnMessage dsn = build_dsn(original(), request({failed_recipient()}));
  const std::vector<ReportPart> parts = parts_of(dsn.content);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(field(parts[0].headers, "Content-Type"), "text/plain; charset=us-ascii");
  EXPECT_EQ(field(parts[1].headers, "Content-Type"), "message/delivery-status");
  EXPECT_EQ(field(parts[2].headers, "Content-Type"), "message/rfc822");
  EXPECT_NE(parts[0].body.find("<alice@example.test>: delivery failed (status 5.1.1)."),
            std::string::npos);
  EXPECT_NE(parts[0].body.find("The server mx.example.test said: 550 5.1.1 no such user"),
            std::string::npos);
}

TEST(Dsn, FailedRecipientGroupHasTheRfc3464Fields) {
  const std::vector<Fields> groups =
      status_groups(build_dsn(original(), request({failed_recipient()})).content);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0], (Fields{{"Reporting-MTA", "dns; relay.herald.test"},
                               {"Arrival-Date", "Tue, 14 Nov 2023 22:13:20 +0000"}}));
  EXPECT_EQ(groups[1], (Fields{{"Final-Recipient", "rfc822;alice@example.test"},
                               {"Action", "failed"},
                               {"Status", "5.1.1"},
                               {"Remote-MTA", "dns; mx.example.test"},
                               {"Diagnostic-Code", "smtp; 550 5.1.1 no such user"},
                               {"Last-Attempt-Date", "Tue, 14 Nov 2023 22:18:20 +0000"}}));
}

TEST(Dsn, DelayReportSaysUntilWhenItRetries) {
  DsnRecipient r = failed_recipient();
  r.action = DsnAction::delayed;
  r.status = "4.4.7";
  r.diagnostic_code = "smtp; 451 4.4.7 try later";
  r.will_retry_until = kArrival + std::chrono::hours(24 * 5);
  const DsnMessage dsn = build_dsn(original(), request({r}));
  EXPECT_EQ(field(top_headers(dsn.content), "Subject"), "Delayed Mail (still being retried)");
  const std::vector<Fields> groups = status_groups(dsn.content);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(field(groups[1], "Action"), "delayed");
  EXPECT_EQ(field(groups[1], "Status"), "4.4.7");
  EXPECT_EQ(field(groups[1], "Will-Retry-Until"), "Sun, 19 Nov 2023 22:13:20 +0000");
  EXPECT_EQ(groups[1].back().first, "Will-Retry-Until");  // RFC 3464 2.3: last in the group
}

TEST(Dsn, SuccessReportForLocalDeliveryHasNoRemoteFields) {
  DsnRecipient r;
  r.final_recipient = "alice@example.test";
  r.action = DsnAction::delivered;
  r.status = "2.0.0";
  const DsnMessage dsn = build_dsn(original(), request({r}));
  EXPECT_EQ(field(top_headers(dsn.content), "Subject"), "Successful Mail Delivery Report");
  const std::vector<Fields> groups = status_groups(dsn.content);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[1], (Fields{{"Final-Recipient", "rfc822;alice@example.test"},
                               {"Action", "delivered"},
                               {"Status", "2.0.0"}}));
}

TEST(Dsn, MixedReportIsHeadlinedByTheFailureAndHasAGroupPerRecipient) {
  DsnRecipient delayed = failed_recipient();
  delayed.final_recipient = "carol@example.test";
  delayed.action = DsnAction::delayed;
  delayed.status = "4.2.2";
  const DsnMessage dsn = build_dsn(original(), request({delayed, failed_recipient()}));
  EXPECT_EQ(field(top_headers(dsn.content), "Subject"), "Undelivered Mail Returned to Sender");
  const std::vector<Fields> groups = status_groups(dsn.content);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(field(groups[1], "Final-Recipient"), "rfc822;carol@example.test");
  EXPECT_EQ(field(groups[2], "Final-Recipient"), "rfc822;alice@example.test");
}

TEST(Dsn, EnvidIsXtextDecodedIntoOriginalEnvelopeIdFirst) {
  DsnOriginal o = original();
  o.envid = "QQ314159+2Bx+3D1";
  const std::vector<Fields> groups =
      status_groups(build_dsn(o, request({failed_recipient()})).content);
  ASSERT_FALSE(groups.empty());
  EXPECT_EQ(groups[0].front(),
            (std::pair<std::string, std::string>("Original-Envelope-Id", "QQ314159+x=1")));
}

TEST(Dsn, EnvidThatIsNotXtextIsRepeatedAsGiven) {
  DsnOriginal o = original();
  o.envid = "a+zz";
  const std::vector<Fields> groups =
      status_groups(build_dsn(o, request({failed_recipient()})).content);
  ASSERT_FALSE(groups.empty());
  EXPECT_EQ(field(groups[0], "Original-Envelope-Id"), "a+zz");
}

TEST(Dsn, WithoutEnvidThereIsNoOriginalEnvelopeId) {
  const std::vector<Fields> groups =
      status_groups(build_dsn(original(), request({failed_recipient()})).content);
  ASSERT_FALSE(groups.empty());
  EXPECT_EQ(groups[0].front().first, "Reporting-MTA");
}

TEST(Dsn, OrcptBecomesADecodedOriginalRecipientBeforeTheFinalOne) {
  DsnRecipient r = failed_recipient();
  r.orcpt = "rfc822;Alice+2Bsales@example.test";
  const std::vector<Fields> groups = status_groups(build_dsn(original(), request({r})).content);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[1][0], (std::pair<std::string, std::string>("Original-Recipient",
                                                               "rfc822;Alice+sales@example.test")));
  EXPECT_EQ(groups[1][1].first, "Final-Recipient");
}

TEST(Dsn, RetFullReturnsTheWholeMessage) {
  DsnOriginal o = original();
  o.ret = DsnReturn::full;
  const std::vector<ReportPart> parts =
      parts_of(build_dsn(o, request({failed_recipient()})).content);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(field(parts[2].headers, "Content-Type"), "message/rfc822");
  EXPECT_EQ(parts[2].body,
            "From: Bob <bob@sender.test>\nTo: alice@example.test\nSubject: hello\n\nHi Alice\n");
}

TEST(Dsn, RetHdrsReturnsOnlyTheHeaderSection) {
  DsnOriginal o = original();
  o.ret = DsnReturn::headers;
  const DsnMessage dsn = build_dsn(o, request({failed_recipient()}));
  const std::vector<ReportPart> parts = parts_of(dsn.content);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(field(parts[2].headers, "Content-Type"), "text/rfc822-headers");
  EXPECT_EQ(parts[2].body, "From: Bob <bob@sender.test>\nTo: alice@example.test\nSubject: hello\n");
  EXPECT_EQ(dsn.content.find("Hi Alice"), std::string::npos);
  EXPECT_NE(parts[0].body.find("The header of your message is attached"), std::string::npos);
}

TEST(Dsn, WithoutRetASmallMessageIsReturnedWholeAndALargeOneByItsHeader) {
  DsnRequest small = request({failed_recipient()});
  small.full_return_limit = kContent.size();
  EXPECT_EQ(field(parts_of(build_dsn(original(), small).content)[2].headers, "Content-Type"),
            "message/rfc822");
  DsnRequest large = small;
  large.full_return_limit = kContent.size() - 1;
  EXPECT_EQ(field(parts_of(build_dsn(original(), large).content)[2].headers, "Content-Type"),
            "text/rfc822-headers");
}

// Issue 8: RET=FULL is honoured up to a limit; above it the header section goes back, and the
// human-readable part says why.
TEST(Dsn, RetFullAboveTheReturnedSizeLimitReturnsTheHeaderAndSaysSo) {
  DsnOriginal o = original();
  o.ret = DsnReturn::full;
  DsnRequest r = request({failed_recipient()});
  r.max_returned_size = kContent.size();
  EXPECT_EQ(field(parts_of(build_dsn(o, r).content)[2].headers, "Content-Type"), "message/rfc822");
  r.max_returned_size = kContent.size() - 1;
  const std::vector<ReportPart> parts = parts_of(build_dsn(o, r).content);
  EXPECT_EQ(field(parts[2].headers, "Content-Type"), "text/rfc822-headers");
  EXPECT_EQ(parts[2].body.find("Hi Alice"), std::string::npos);
  EXPECT_NE(parts[0].body.find("Your message is larger than " +
                               std::to_string(kContent.size() - 1) + " octets"),
            std::string::npos)
      << parts[0].body;
}

TEST(Dsn, BinaryMimeMessageIsReturnedByItsHeaderEvenWithRetFull) {
  DsnOriginal o = original();
  o.body_type = "BINARYMIME";
  o.ret = DsnReturn::full;
  EXPECT_EQ(field(parts_of(build_dsn(o, request({failed_recipient()})).content)[2].headers,
                  "Content-Type"),
            "text/rfc822-headers");
}

TEST(Dsn, EightBitOriginalIsReturnedAsEightBitRfc822) {
  DsnOriginal o = original();
  o.body_type = "8BITMIME";
  o.content = content_of("Subject: caf\xC3\xA9\r\n\r\nd\xC3\xA9j\xC3\xA0 vu\r\n");
  const DsnMessage dsn = build_dsn(o, request({failed_recipient()}));
  const std::vector<ReportPart> parts = parts_of(dsn.content);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(field(parts[2].headers, "Content-Type"), "message/rfc822");
  EXPECT_EQ(field(parts[2].headers, "Content-Transfer-Encoding"), "8bit");
  EXPECT_TRUE(dsn.needs_8bitmime);
  EXPECT_FALSE(dsn.needs_smtputf8);
}

TEST(Dsn, Smtputf8OriginalIsReturnedAsMessageGlobal) {
  DsnOriginal o = original();
  o.smtputf8 = true;
  o.envelope_sender =
      "b\xC3\xB8"
      "b@sender.test";
  o.content = content_of(
      "From: b\xC3\xB8"
      "b@sender.test\r\n\r\nhej\r\n");
  DsnRecipient r = failed_recipient();
  r.final_recipient = "\xC3\xA5sa@example.test";
  const DsnMessage dsn = build_dsn(o, request({r}));
  const std::vector<ReportPart> parts = parts_of(dsn.content);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(field(parts[1].headers, "Content-Type"), "message/global-delivery-status");
  EXPECT_EQ(field(field_groups(parts[1].body)[1], "Final-Recipient"),
            "utf-8;\xC3\xA5sa@example.test");
  EXPECT_EQ(field(parts[2].headers, "Content-Type"), "message/global");
  EXPECT_TRUE(dsn.needs_smtputf8);
}

TEST(Dsn, LongDiagnosticIsFoldedWithin78CharactersAndUnfoldsToTheReply) {
  DsnRecipient r = failed_recipient();
  r.diagnostic_code =
      "smtp; 550 5.7.1 Service unavailable, client host [192.0.2.1] blocked using "
      "zen.spamhaus.example; see https://www.spamhaus.example/query/ip/192.0.2.1 for the "
      "reasons and for how to request removal from the list";
  const DsnMessage dsn = build_dsn(original(), request({r}));
  const std::vector<ReportPart> parts = parts_of(dsn.content);
  ASSERT_EQ(parts.size(), 3u);
  for (const std::string& line : test_support::lines_of(parts[1].body)) {
    EXPECT_LE(line.size(), 78u) << line;
  }
  EXPECT_EQ(field(field_groups(parts[1].body)[1], "Diagnostic-Code"), r.diagnostic_code);
}

TEST(Dsn, MultiLineReplyCannotInjectFields) {
  DsnRecipient r = failed_recipient();
  r.diagnostic_code = "smtp; 550-5.1.1 first\r\nAction: delivered\r\n550 5.1.1 second";
  const std::vector<Fields> groups = status_groups(build_dsn(original(), request({r})).content);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(field(groups[1], "Action"), "failed");
  EXPECT_EQ(groups[1].size(), 6u);
}

TEST(Dsn, BoundaryNeverOccursInTheContent) {
  DsnOriginal o = original();
  const std::string content = kContent + "--=_herald_dsn_01HF7YAT00ABCDEFGHJKMNPQRS_0\r\n";
  o.content = content_of(content);
  const DsnMessage dsn = build_dsn(o, request({failed_recipient()}));
  const std::string boundary =
      test_support::boundary_of(field(top_headers(dsn.content), "Content-Type"));
  EXPECT_EQ(boundary, "=_herald_dsn_01HF7YAT00ABCDEFGHJKMNPQRS_1");
  EXPECT_EQ(content.find(boundary), std::string::npos);
  EXPECT_EQ(parts_of(dsn.content).size(), 3u);
}

TEST(Dsn, EveryLineEndsInCrlfEvenWhenTheOriginalHasBareLineFeeds) {
  DsnOriginal o = original();
  o.content = content_of("Subject: bare\n\nline one\nline two\rline three");
  const DsnMessage dsn = build_dsn(o, request({failed_recipient()}));
  for (size_t i = 0; i < dsn.content.size(); ++i) {
    if (dsn.content[i] == '\n') {
      ASSERT_TRUE(i > 0 && dsn.content[i - 1] == '\r') << i;
    }
    if (dsn.content[i] == '\r') {
      ASSERT_EQ(dsn.content[i + 1], '\n') << i;
    }
  }
  EXPECT_TRUE(dsn.content.ends_with("--\r\n"));
  EXPECT_NE(dsn.content.find("line one\r\nline two\r\nline three\r\n"), std::string::npos);
}

TEST(Dsn, NoLineIsLongerThan998) {
  DsnRecipient r = failed_recipient();
  r.diagnostic_code = "smtp; 550 " + std::string(2500, 'x');
  const DsnMessage dsn = build_dsn(original(), request({r}));
  for (const std::string& line : test_support::lines_of(dsn.content)) {
    EXPECT_LE(line.size(), 998u);
  }
}

TEST(MayNotify, NeverTheNullReversePath) {
  EXPECT_FALSE(may_notify(""));
  EXPECT_TRUE(may_notify("bob@sender.test"));
}

// RFC 3461 4.3 RET=FULL with a body read a piece at a time: under the cap every piece is
// read once and the original comes back whole, a CRLF split between two pieces one line end;
// over it the header comes back and no piece is read at all.
TEST(Dsn, RetFullUnderTheCapReadsEachPieceOnceAndReturnsTheWholeOriginal) {
  const auto pieced = test_support::pieced_content("Subject: hello\r\n\r\n", "one\r\ntwo\r", {3});
  // Pieces: "one", "\r\ntwo\r"; the bare CR at the end becomes a line end.
  DsnOriginal o = original();
  o.ret = DsnReturn::full;
  o.content = &pieced.content;
  const DsnMessage dsn = build_dsn(o, request({failed_recipient()}));
  const std::vector<ReportPart> parts = parts_of(dsn.content);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(field(parts[2].headers, "Content-Type"), "message/rfc822");
  EXPECT_NE(dsn.content.find("Subject: hello\r\n\r\none\r\ntwo\r\n\r\n--"), std::string::npos)
      << dsn.content;
  EXPECT_EQ(pieced.body->reads(), 2u);
}

TEST(Dsn, RetFullOverTheCapReturnsTheHeaderWithoutReadingABodyPiece) {
  const auto pieced = test_support::pieced_content("Subject: large\r\n\r\n", std::string(4000, 'x'),
                                                   {1000, 2000, 3000});
  DsnOriginal o = original();
  o.ret = DsnReturn::full;
  o.content = &pieced.content;
  DsnRequest r = request({failed_recipient()});
  r.max_returned_size = 2500;
  const DsnMessage dsn = build_dsn(o, r);
  const std::vector<ReportPart> parts = parts_of(dsn.content);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(field(parts[2].headers, "Content-Type"), "text/rfc822-headers");
  EXPECT_EQ(parts[2].body, "Subject: large\n");
  EXPECT_EQ(pieced.body->reads(), 0u);
  EXPECT_LT(dsn.content.size(), 2500u);
}

// A body whose size() understates it still costs no more than the cap: reading stops at the
// piece that passes it, and the header goes back instead.
TEST(Dsn, RetFullStopsReadingAtThePieceThatPassesTheCap) {
  const auto pieced = test_support::pieced_content("Subject: large\r\n\r\n", std::string(4000, 'x'),
                                                   {1000, 2000, 3000});
  pieced.body->claim_size(10);
  DsnOriginal o = original();
  o.ret = DsnReturn::full;
  o.content = &pieced.content;
  DsnRequest r = request({failed_recipient()});
  r.max_returned_size = 2500;
  const DsnMessage dsn = build_dsn(o, r);
  EXPECT_EQ(field(parts_of(dsn.content)[2].headers, "Content-Type"), "text/rfc822-headers");
  EXPECT_EQ(pieced.body->reads(), 3u);  // the third passes 2500; the fourth is never read
  EXPECT_LT(dsn.content.size(), 2500u);
}

TEST(Dsn, RetHdrsReadsNoBodyPiece) {
  const auto pieced = test_support::pieced_content("Subject: hello\r\n\r\n", "one\r\n", {});
  DsnOriginal o = original();
  o.ret = DsnReturn::headers;
  o.content = &pieced.content;
  const DsnMessage dsn = build_dsn(o, request({failed_recipient()}));
  EXPECT_EQ(parts_of(dsn.content)[2].body, "Subject: hello\n");
  EXPECT_EQ(pieced.body->reads(), 0u);
}

}  // namespace
}  // namespace herald
