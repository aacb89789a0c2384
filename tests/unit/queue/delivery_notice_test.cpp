#include "queue/delivery_notice.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace herald {
namespace {

const TimePoint kNow = from_unix_ms(1'795'953'600'000);

// A copy an alias forwarded leaves with an SRS return path, but its failure is reported to
// the original sender: the SRS address would only bring the DSN back here.
TEST(DeliveryNotice, FailedForwardedCopyIsReportedToTheOriginalSenderNotTheSrsAddress) {
  MessageRecord message;
  message.id = "01HZY3NDEKTSV4RRFFQ69G5FAV";
  message.received_at = kNow;
  message.envelope.mail_from = "someone@sender.test";
  message.envelope.rcpt_to = {"alice@example.test"};
  message.envelope.sender_verified = true;
  message.qos.priority = 6;
  Delivery forwarded;
  forwarded.message_id = message.id;
  forwarded.recipient = "alice@example.test";
  forwarded.mailbox = "alice.private@elsewhere.test";
  forwarded.transport = "smtp";
  forwarded.attempts = 1;
  forwarded.envelope_sender = "SRS0=8zoU=JS=sender.test=someone@mx.example.test";
  NoticeFacts facts;
  facts.status = "5.1.1";
  facts.reply = "550 5.1.1 no such user";

  std::vector<std::string> routed;
  const NoticeRouter route = [&](std::string_view address) {
    routed.emplace_back(address);
    return std::vector<NoticeTarget>{{"smtp", std::string(address)}};
  };
  ASSERT_EQ(decide_notice(message, forwarded, DsnAction::failed).verdict,
            NoticeDecision::Verdict::send);
  const std::optional<NoticeMessage> notice =
      build_notice(message, MessageContent::from_text("Subject: hi\r\n\r\nbody\r\n"),
                   {{forwarded, facts}}, "mx.example.test", 1 << 20, kNow, route);
  ASSERT_TRUE(notice);
  EXPECT_EQ(routed, std::vector<std::string>{"someone@sender.test"});
  EXPECT_EQ(notice->record.envelope.rcpt_to, std::vector<std::string>{"someone@sender.test"});
  EXPECT_EQ(notice->record.envelope.mail_from, "");
  ASSERT_EQ(notice->deliveries.size(), 1u);
  EXPECT_EQ(notice->deliveries[0].mailbox, "someone@sender.test");
  EXPECT_EQ(notice->deliveries[0].envelope_sender, "");
  // The DSN keeps its original's priority, and so do its deliveries.
  EXPECT_EQ(notice->record.qos.priority, 6);
  EXPECT_EQ(notice->deliveries[0].priority, 6);
}

}  // namespace
}  // namespace herald
