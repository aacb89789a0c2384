// The limits a hostile client meets in the session itself (issue 8): the header section's
// size, the hop count, commands that lead to no mail, the in-flight memory budget and the
// free-space flag. The connection's timeouts are in server_connection.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "smtp/server_session.h"
#include "support/example_config.h"

namespace herald {
namespace {

using Next = SessionStep::Next;

Config limits_config() {
  return test_support::example_config(R"(
[[user]]
address = "alice@example.test"
)");
}

class SessionLimitsTest : public ::testing::Test {
 protected:
  SessionLimitsTest() : config_(limits_config()), directory_(config_), settings_(make_settings()) {}

  SessionSettings make_settings() {
    SessionSettings s;
    s.hostname = "mx.example.test";
    s.limits = config_.limits;
    s.limits.max_header_size = 200;
    s.limits.max_hops = 3;
    s.limits.max_non_mail_commands = 4;
    s.postmaster = "alice@example.test";
    return s;
  }

  ServerSession& session() {
    if (!session_) session_.emplace(settings_, directory_, clock_, PeerInfo{"192.0.2.1", 40000});
    return *session_;
  }

  std::string send(std::string_view line) {
    last_ = session().on_command_line(line);
    return last_.reply ? last_.reply->wire() : std::string();
  }

  void start_transaction() {
    send("EHLO client.example");
    send("MAIL FROM:<sender@client.example>");
    send("RCPT TO:<alice@example.test>");
  }

  // DATA and its content, the body pieces taken into pieces_ as a connection takes them to
  // the store; the reply to the end of data, or "commit".
  std::string send_message(std::string_view content) {
    start_transaction();
    EXPECT_EQ(send("DATA").substr(0, 3), "354");
    const std::string wire = std::string(content) + ".\r\n";
    size_t fed = 0;
    while (fed < wire.size()) {
      fed += session().on_data(std::string_view(wire).substr(fed));
      while (session().piece_ready()) pieces_.push_back(session().take_piece());
      if (session().data_complete()) break;
    }
    EXPECT_EQ(fed, wire.size());
    last_ = session().on_data_end();
    if (last_.next == Next::commit) return "commit";
    return last_.reply ? last_.reply->wire() : std::string();
  }

  // About `kib` KiB of body in lines of 1,000 octets.
  static std::string body_of(size_t kib) {
    std::string body;
    for (size_t i = 0; i < kib; ++i) body += std::string(1022, 'b') + "\r\n";
    return body;
  }

  static std::string received_fields(int count) {
    std::string header;
    for (int i = 0; i < count; ++i) header += "Received: from hop" + std::to_string(i) + "\r\n";
    return header;
  }

  Config config_;
  Directory directory_;
  std::vector<BodyPiece> pieces_;
  ManualClock clock_{from_unix_ms(1'704'207'845'000)};
  SessionSettings settings_;
  std::optional<ServerSession> session_;
  SessionStep last_;
};

TEST_F(SessionLimitsTest, AHeaderSectionOverTheLimitIsRefusedWith552_5_3_4) {
  const std::string header = "Subject: " + std::string(250, 'x') + "\r\n";
  EXPECT_EQ(send_message(header + "\r\nbody\r\n"),
            "552 5.3.4 Message header section exceeds fixed maximum of 200 octets; not "
            "accepted\r\n");
  EXPECT_EQ(send("NOOP"), "250 2.0.0 OK\r\n");
}

TEST_F(SessionLimitsTest, ALongBodyUnderASmallHeaderIsAccepted) {
  EXPECT_EQ(send_message("Subject: hi\r\n\r\n" + std::string(5000, 'b') + "\r\n"), "commit");
}

TEST_F(SessionLimitsTest, ContentWithoutABlankLineIsAllHeader) {
  std::string lines;
  for (int i = 0; i < 20; ++i) lines += "X-Line: " + std::to_string(i) + "\r\n";
  EXPECT_EQ(send_message(lines).substr(0, 9), "552 5.3.4");
}

TEST_F(SessionLimitsTest, TraceFieldsUpToMaxHopsAreAccepted) {
  EXPECT_EQ(send_message(received_fields(2) + "Delivered-To: alice@example.test\r\n\r\nx\r\n"),
            "commit");
}

TEST_F(SessionLimitsTest, MoreTraceFieldsThanMaxHopsAreRefusedWith554_5_4_6) {
  EXPECT_EQ(send_message(received_fields(2) + "delivered-to: a@b\r\nRECEIVED : x\r\n\r\nx\r\n"),
            "554 5.4.6 Too many hops: more than 3 Received/Delivered-To fields (mail loop?)\r\n");
}

TEST_F(SessionLimitsTest, TraceFieldNamesInTheBodyOrOtherFieldsDoNotCount) {
  EXPECT_EQ(send_message("Received-SPF: pass\r\nX-Received: y\r\nSubject: Received: z\r\n"
                         "Received: a\r\n\r\n" +
                         received_fields(10)),
            "commit");
}

TEST_F(SessionLimitsTest, TooManyNonMailCommandsCloseWith421_4_7_0) {
  send("EHLO client.example");
  for (const char* line : {"NOOP", "RSET", "VRFY alice", "HELP"}) {
    EXPECT_EQ(send(line).substr(0, 1), "2") << line;
  }
  EXPECT_EQ(send("NOOP"),
            "421 4.7.0 mx.example.test too many commands without mail, closing connection\r\n");
  EXPECT_EQ(last_.next, Next::close);
  EXPECT_EQ(session().close_reason(), "too-many-non-mail-commands");
}

TEST_F(SessionLimitsTest, AnAcceptedMessageStartsTheNonMailCountAfresh) {
  send("EHLO client.example");
  for (int i = 0; i < 4; ++i) send("NOOP");
  ASSERT_EQ(send_message("Subject: hi\r\n\r\nx\r\n"), "commit");
  session().on_commit_succeeded();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(send("RSET"), "250 2.0.0 OK\r\n");
}

TEST_F(SessionLimitsTest, SessionTimeReplyIs421_4_4_2) {
  EXPECT_EQ(session().session_time_reply().wire(),
            "421 4.4.2 mx.example.test session time limit reached, closing connection\r\n");
}

TEST_F(SessionLimitsTest, MailWhileStorageIsLowGets452_4_3_1) {
  std::atomic<bool> storage_low{true};
  settings_.storage_low = &storage_low;
  send("EHLO client.example");
  EXPECT_EQ(send("MAIL FROM:<sender@client.example>"), "452 4.3.1 Insufficient system storage\r\n");
  storage_low = false;
  EXPECT_EQ(send("MAIL FROM:<sender@client.example>"), "250 2.1.0 Sender OK\r\n");
}

TEST_F(SessionLimitsTest, MailDeclaringMoreThanTheDiskHasLeftGets452_4_3_1) {
  std::atomic<uint64_t> headroom{10000};
  settings_.storage_headroom = &headroom;
  send("EHLO client.example");
  EXPECT_EQ(send("MAIL FROM:<sender@client.example> SIZE=10001"),
            "452 4.3.1 Insufficient system storage\r\n");
  EXPECT_EQ(send("MAIL FROM:<sender@client.example> SIZE=10000"), "250 2.1.0 Sender OK\r\n");
}

TEST_F(SessionLimitsTest, DataWithTheBudgetFullGets452_4_3_1) {
  InFlightBudget budget(64 * 1024);
  settings_.in_flight_budget = &budget;
  ASSERT_TRUE(budget.try_charge(64 * 1024));  // other sessions hold it all
  start_transaction();
  EXPECT_EQ(send("DATA"), "452 4.3.1 Insufficient system storage\r\n");
  EXPECT_EQ(last_.next, Next::read_command);
}

TEST_F(SessionLimitsTest, ContentOutgrowingTheBudgetIsReadToTheEndAndRefusedWith452) {
  InFlightBudget budget(64 * 1024);
  settings_.in_flight_budget = &budget;
  EXPECT_EQ(send_message("Subject: big\r\n\r\n" + body_of(100)),
            "452 4.3.1 Insufficient system storage\r\n");
  EXPECT_EQ(budget.in_use(), 0u);  // the refused content gave its charge back
}

TEST_F(SessionLimitsTest, AcceptedContentHoldsItsChargeUntilCommitted) {
  InFlightBudget budget(1024 * 1024);
  settings_.in_flight_budget = &budget;
  ASSERT_EQ(send_message("Subject: hi\r\n\r\n" + body_of(20)), "commit");
  const AcceptedMessage& message = session().message_to_commit();
  EXPECT_GE(budget.in_use(), message.content.size());
  EXPECT_EQ(budget.in_use(), message.charge.bytes());
  session().on_commit_succeeded();
  EXPECT_EQ(budget.in_use(), 0u);
}

// Streaming DATA: a body is handed out a piece at a time, under the message's id, and the
// session holds at most the header and one piece of it, whatever the message's size.
TEST_F(SessionLimitsTest, ALargeBodyLeavesThePieceAtATimeAndIsNeverHeldWhole) {
  InFlightBudget budget(512 * 1024);  // far less than the message
  settings_.in_flight_budget = &budget;
  const std::string body = body_of(1024) + "last line\r\n";  // 1 MiB and a little
  ASSERT_EQ(send_message("Subject: big\r\n\r\n" + body), "commit");
  const AcceptedMessage& message = session().message_to_commit();
  ASSERT_EQ(pieces_.size(), 4u);
  std::string joined;
  for (const BodyPiece& piece : pieces_) {
    EXPECT_EQ(piece.message_id, message.record.id);
    EXPECT_EQ(piece.bytes.size(), MessageBody::kMaxPieceSize);
    joined += piece.bytes;
  }
  EXPECT_EQ(pieces_.back().index, 3u);
  EXPECT_EQ(message.content.pieces_written, 4u);
  EXPECT_EQ(message.content.written_size, 4 * MessageBody::kMaxPieceSize);
  EXPECT_EQ(joined + message.content.rest, body);
  EXPECT_EQ(message.record.size, message.content.header.size() + body.size());
  EXPECT_LE(budget.in_use(), 300u * 1024);  // the header and one piece's buffer
  session().on_commit_succeeded();
  EXPECT_TRUE(session().take_abandoned_bodies().empty()) << "committed: nothing to drop";
  EXPECT_EQ(budget.in_use(), 0u);
}

TEST_F(SessionLimitsTest, ABodyRefusedAfterPiecesLeftIsHandedBackToBeDropped) {
  // Two pieces go out, then a bare LF refuses the content at its end.
  const std::string body = body_of(600) + "bare\nline feed\r\n";
  EXPECT_EQ(send_message("Subject: big\r\n\r\n" + body).substr(0, 9), "554 5.6.0");
  ASSERT_EQ(pieces_.size(), 2u);
  const std::vector<ArrivingBody> abandoned = session().take_abandoned_bodies();
  ASSERT_EQ(abandoned.size(), 1u);
  EXPECT_EQ(abandoned.front().message_id, pieces_.front().message_id);
  EXPECT_EQ(abandoned.front().pieces, 2u);
  EXPECT_TRUE(session().take_abandoned_bodies().empty());
}

TEST_F(SessionLimitsTest, BdatWithTheBudgetFullGets452AndEndsTheTransaction) {
  InFlightBudget budget(1024);
  settings_.in_flight_budget = &budget;
  ASSERT_TRUE(budget.try_charge(1024));
  start_transaction();
  last_ = session().on_command_line("BDAT 5 LAST");
  ASSERT_EQ(last_.next, Next::read_chunk);
  session().on_chunk_data("hello");
  last_ = session().on_chunk_end();
  EXPECT_EQ(last_.reply->wire(), "452 4.3.1 Insufficient system storage\r\n");
  EXPECT_EQ(send("RCPT TO:<alice@example.test>"), "503 5.5.1 Send MAIL first\r\n");
}

}  // namespace
}  // namespace herald
