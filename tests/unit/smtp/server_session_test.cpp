#include "smtp/server_session.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>

#include "support/accepted_text.h"
#include "util/message_id.h"

namespace herald {
namespace {

using Next = SessionStep::Next;

Config test_config() {
  return parse_config(R"(
[server]
hostname = "mx.example.test"
data_dir = "/tmp/unused"
[[listen]]
address = "127.0.0.1:2525"
[[domain]]
name = "example.test"
[[user]]
address = "alice@example.test"
[[user]]
address = "bob@example.test"
[[alias]]
address = "postmaster@example.test"
to = ["alice@example.test"]
[[alias]]
address = "team@example.test"
to = ["alice@example.test", "bob@example.test"]
)",
                      "/tmp/test.toml");
}

class ServerSessionTest : public ::testing::Test {
 protected:
  ServerSessionTest()
      : config_(test_config()),
        directory_(config_),
        clock_(from_unix_ms(1'704'207'845'000)),
        settings_(make_settings()),
        session_(settings_, directory_, clock_, PeerInfo{"192.0.2.1", 40000}) {}

  SessionSettings make_settings() {
    SessionSettings s;
    s.hostname = "mx.example.test";
    s.limits = config_.limits;
    s.limits.max_recipients = 3;
    s.limits.max_errors = 5;
    s.limits.max_message_size = 1000;
    s.postmaster = "postmaster@example.test";
    return s;
  }

  // The reply to one command line, as sent on the wire.
  std::string send(std::string_view line) {
    last_ = session_.on_command_line(line);
    return last_.reply ? last_.reply->wire() : std::string();
  }

  void start_transaction() {
    send("EHLO client.example");
    send("MAIL FROM:<sender@client.example>");
  }

  // DATA content through to the commit step; returns the reply if there is one.
  std::string send_content(std::string_view wire) {
    const size_t used = session_.on_data(wire);
    EXPECT_EQ(used, wire.size());
    EXPECT_TRUE(session_.data_complete());
    last_ = session_.on_data_end();
    return last_.reply ? last_.reply->wire() : std::string();
  }

  std::string send_chunk(std::string_view line, std::string_view chunk) {
    last_ = session_.on_command_line(line);
    EXPECT_EQ(last_.next, Next::read_chunk) << line;
    EXPECT_FALSE(last_.reply.has_value());
    EXPECT_EQ(last_.chunk_size, chunk.size());
    session_.on_chunk_data(chunk);
    last_ = session_.on_chunk_end();
    return last_.reply ? last_.reply->wire() : std::string();
  }

  Config config_;
  Directory directory_;
  ManualClock clock_;
  SessionSettings settings_;
  ServerSession session_;
  SessionStep last_;
};

// --- greeting and EHLO -------------------------------------------------------------------

TEST_F(ServerSessionTest, GreetingNamesTheHostWithoutEnhancedCode) {
  EXPECT_EQ(session_.greeting().wire(), "220 mx.example.test ESMTP herald\r\n");
}

TEST_F(ServerSessionTest, EhloAnnouncesTheExtensions) {
  EXPECT_EQ(send("EHLO client.example"),
            "250-mx.example.test greets client.example\r\n"
            "250-PIPELINING\r\n"
            "250-SIZE 1000\r\n"
            "250-8BITMIME\r\n"
            "250-SMTPUTF8\r\n"
            "250-ENHANCEDSTATUSCODES\r\n"
            "250-CHUNKING\r\n"
            "250-DSN\r\n"
            "250-DELIVERBY 60\r\n"
            "250-MT-PRIORITY\r\n"
            "250 STARTTLS\r\n");
}

TEST_F(ServerSessionTest, HeloAnswersWithTheHostname) {
  EXPECT_EQ(send("HELO client.example"), "250 mx.example.test\r\n");
}

TEST_F(ServerSessionTest, EhloWithoutAnArgumentIsRefusedWith501) {
  EXPECT_EQ(send("EHLO"), "501 5.5.4 Syntax: EHLO domain-or-[address]\r\n");
}

TEST_F(ServerSessionTest, EhloWithAnUnderscoreInTheNameIsGreeted) {
  EXPECT_EQ(send("EHLO bad_name").rfind("250-mx.example.test greets bad_name\r\n", 0), 0u);
}

// --- sequence ----------------------------------------------------------------------------

TEST_F(ServerSessionTest, MailBeforeEhloIsOutOfSequence) {
  EXPECT_EQ(send("MAIL FROM:<a@client.example>"), "503 5.5.1 Send EHLO or HELO first\r\n");
}

TEST_F(ServerSessionTest, RcptBeforeMailIsOutOfSequence) {
  send("EHLO client.example");
  EXPECT_EQ(send("RCPT TO:<alice@example.test>"), "503 5.5.1 Send MAIL first\r\n");
}

TEST_F(ServerSessionTest, NestedMailIsOutOfSequence) {
  start_transaction();
  EXPECT_EQ(send("MAIL FROM:<other@client.example>"),
            "503 5.5.1 Transaction in progress; send RSET first\r\n");
}

TEST_F(ServerSessionTest, DataBeforeRcptIsOutOfSequence) {
  start_transaction();
  EXPECT_EQ(send("DATA"), "503 5.5.1 Send RCPT first\r\n");
}

TEST_F(ServerSessionTest, DataWithoutAcceptedRecipientIsRefusedWith554) {
  start_transaction();
  send("RCPT TO:<nobody@example.test>");
  EXPECT_EQ(send("DATA"), "554 5.5.1 No valid recipients\r\n");
}

TEST_F(ServerSessionTest, RsetEndsTheTransaction) {
  start_transaction();
  EXPECT_EQ(send("RSET"), "250 2.0.0 OK\r\n");
  EXPECT_EQ(send("RCPT TO:<alice@example.test>"), "503 5.5.1 Send MAIL first\r\n");
  EXPECT_EQ(send("MAIL FROM:<a@client.example>"), "250 2.1.0 Sender OK\r\n");
}

TEST_F(ServerSessionTest, EhloInTheMiddleResetsTheTransaction) {
  start_transaction();
  send("EHLO client.example");
  EXPECT_EQ(send("RCPT TO:<alice@example.test>"), "503 5.5.1 Send MAIL first\r\n");
}

// --- MAIL --------------------------------------------------------------------------------

TEST_F(ServerSessionTest, MailFromIsAcceptedWith250_2_1_0) {
  send("EHLO client.example");
  EXPECT_EQ(send("MAIL FROM:<sender@client.example>"), "250 2.1.0 Sender OK\r\n");
}

TEST_F(ServerSessionTest, NullReversePathIsAccepted) {
  send("EHLO client.example");
  EXPECT_EQ(send("MAIL FROM:<>"), "250 2.1.0 Sender OK\r\n");
}

TEST_F(ServerSessionTest, BadSenderAddressIsRefusedWith501_5_1_7) {
  send("EHLO client.example");
  EXPECT_EQ(send("MAIL FROM:<a@@client.example>"), "501 5.1.7 Bad sender address syntax\r\n");
}

TEST_F(ServerSessionTest, DeclaredSizeOverTheLimitIsRefusedWith552) {
  send("EHLO client.example");
  EXPECT_EQ(send("MAIL FROM:<a@client.example> SIZE=1001"),
            "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
  EXPECT_EQ(send("MAIL FROM:<a@client.example> SIZE=1000"), "250 2.1.0 Sender OK\r\n");
}

TEST_F(ServerSessionTest, UnknownMailParameterIsRefusedWith555) {
  send("EHLO client.example");
  EXPECT_EQ(send("MAIL FROM:<a@client.example> X-FOO=1"),
            "555 5.5.4 Unsupported parameter X-FOO\r\n");
}

TEST_F(ServerSessionTest, NonAsciiSenderNeedsSmtputf8) {
  send("EHLO client.example");
  EXPECT_EQ(send("MAIL FROM:<j\xC3\xB6rg@client.example>"),
            "553 5.6.7 Non-ASCII address requires SMTPUTF8\r\n");
  EXPECT_EQ(send("MAIL FROM:<j\xC3\xB6rg@client.example> SMTPUTF8"), "250 2.1.0 Sender OK\r\n");
}

// --- RCPT --------------------------------------------------------------------------------

TEST_F(ServerSessionTest, RcptToLocalUserIsAcceptedWith250_2_1_5) {
  start_transaction();
  EXPECT_EQ(send("RCPT TO:<alice@example.test>"), "250 2.1.5 Recipient OK\r\n");
}

TEST_F(ServerSessionTest, RcptToUnknownLocalUserIsRefusedWith550_5_1_1) {
  start_transaction();
  EXPECT_EQ(send("RCPT TO:<nobody@example.test>"),
            "550 5.1.1 <nobody@example.test>: no such user here\r\n");
}

TEST_F(ServerSessionTest, RcptToOtherDomainIsRefusedAsRelaying) {
  start_transaction();
  EXPECT_EQ(send("RCPT TO:<someone@elsewhere.example>"),
            "554 5.7.1 <someone@elsewhere.example>: relaying denied\r\n");
}

TEST_F(ServerSessionTest, BadRecipientAddressIsRefusedWith501_5_1_3) {
  start_transaction();
  EXPECT_EQ(send("RCPT TO:<alice@>"), "501 5.1.3 Bad recipient address syntax\r\n");
}

TEST_F(ServerSessionTest, UnknownRcptParameterIsRefusedWith555) {
  start_transaction();
  EXPECT_EQ(send("RCPT TO:<alice@example.test> X-FOO=1"),
            "555 5.5.4 Unsupported parameter X-FOO\r\n");
}

TEST_F(ServerSessionTest, RecipientCaseDoesNotMatter) {
  start_transaction();
  EXPECT_EQ(send("RCPT TO:<Alice@Example.TEST>"), "250 2.1.5 Recipient OK\r\n");
}

TEST_F(ServerSessionTest, BarePostmasterIsAccepted) {
  start_transaction();
  EXPECT_EQ(send("RCPT TO:<Postmaster>"), "250 2.1.5 Recipient OK\r\n");
}

TEST_F(ServerSessionTest, NonAsciiRecipientNeedsSmtputf8OnMail) {
  start_transaction();
  EXPECT_EQ(send("RCPT TO:<j\xC3\xB6rg@example.test>"),
            "553 5.6.7 Non-ASCII address requires SMTPUTF8\r\n");
}

TEST_F(ServerSessionTest, RecipientsPastTheLimitGet452) {
  start_transaction();
  send("RCPT TO:<alice@example.test>");
  send("RCPT TO:<bob@example.test>");
  send("RCPT TO:<team@example.test>");
  EXPECT_EQ(send("RCPT TO:<alice@example.test>"), "452 4.5.3 Too many recipients\r\n");
}

TEST_F(ServerSessionTest, RefusedRecipientsDoNotCountTowardsTheLimit) {
  start_transaction();
  send("RCPT TO:<nobody@example.test>");
  send("RCPT TO:<alice@example.test>");
  send("RCPT TO:<bob@example.test>");
  EXPECT_EQ(send("RCPT TO:<team@example.test>"), "250 2.1.5 Recipient OK\r\n");
}

// --- DATA --------------------------------------------------------------------------------

TEST_F(ServerSessionTest, DataAsksForContentWith354) {
  start_transaction();
  send("RCPT TO:<alice@example.test>");
  EXPECT_EQ(send("DATA"), "354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_EQ(last_.next, Next::read_data);
}

TEST_F(ServerSessionTest, EndOfDataCommitsThenAnswersQueuedAsId) {
  start_transaction();
  send("RCPT TO:<alice@example.test>");
  send("DATA");
  EXPECT_EQ(send_content("Subject: hi\r\n\r\nbody\r\n.\r\n"), "");
  EXPECT_EQ(last_.next, Next::commit);
  const std::string id = session_.message_to_commit().record.id;
  EXPECT_TRUE(is_message_id(id));
  const std::string reply = session_.on_commit_succeeded().reply->wire();
  EXPECT_EQ(reply, "250 2.0.0 queued as " + id + "\r\n");
  EXPECT_EQ(session_.messages_accepted(), 1u);
}

TEST_F(ServerSessionTest, CommittedMessageHasEnvelopeContentDeliveriesAndLedger) {
  send("EHLO client.example");
  send("MAIL FROM:<sender@client.example> BODY=8BITMIME");
  send("RCPT TO:<alice@example.test>");
  send("DATA");
  send_content("Subject: hi\r\n\r\nbody\r\n.\r\n");
  const AcceptedMessage& m = session_.message_to_commit();

  EXPECT_EQ(m.record.envelope.mail_from, "sender@client.example");
  EXPECT_EQ(m.record.envelope.rcpt_to, std::vector<std::string>{"alice@example.test"});
  EXPECT_EQ(m.record.envelope.helo, "client.example");
  EXPECT_EQ(m.record.envelope.peer_ip, "192.0.2.1");
  EXPECT_EQ(m.record.envelope.peer_port, 40000);
  EXPECT_EQ(m.record.envelope.listener, "smtp");
  EXPECT_EQ(m.record.envelope.protocol, "ESMTP");
  EXPECT_EQ(m.record.envelope.body_type, "8BITMIME");
  EXPECT_EQ(m.record.received_at, clock_.now());

  const std::string body = "Subject: hi\r\n\r\nbody\r\n";
  EXPECT_EQ(
      test_support::committed_text(m).rfind("Received: from client.example ([192.0.2.1])\r\n", 0),
      0u);
  EXPECT_NE(test_support::committed_text(m).find("for <alice@example.test>;"), std::string::npos);
  EXPECT_EQ(
      test_support::committed_text(m).substr(test_support::committed_text(m).size() - body.size()),
      body);
  EXPECT_EQ(m.record.size, test_support::committed_text(m).size());

  ASSERT_EQ(m.deliveries.size(), 1u);
  EXPECT_EQ(m.deliveries[0].message_id, m.record.id);
  EXPECT_EQ(m.deliveries[0].index, 0u);
  EXPECT_EQ(m.deliveries[0].recipient, "alice@example.test");
  EXPECT_EQ(m.deliveries[0].mailbox, "alice@example.test");
  EXPECT_EQ(m.deliveries[0].state, DeliveryState::queued);

  ASSERT_EQ(m.events.size(), 2u);
  EXPECT_EQ(m.events[0].type, "received");
  using Fields = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(m.events[0].fields,
            (Fields{{"peer", "192.0.2.1"},
                    {"helo", "client.example"},
                    {"tls", "no"},
                    {"size", std::to_string(test_support::committed_text(m).size())},
                    {"from", "<sender@client.example>"},
                    {"listener", "smtp"}}));
  EXPECT_EQ(m.events[1].type, "queued");
  EXPECT_EQ(m.events[1].recipient, "alice@example.test");
  EXPECT_EQ(m.events[1].fields, (Fields{{"mailbox", "alice@example.test"}}));
}

TEST_F(ServerSessionTest, RecipientsReachingTheSameMailboxGiveOneDelivery) {
  start_transaction();
  send("RCPT TO:<alice@example.test>");
  send("RCPT TO:<team@example.test>");
  send("RCPT TO:<postmaster@example.test>");
  send("DATA");
  send_content("x\r\n.\r\n");
  const AcceptedMessage& m = session_.message_to_commit();
  EXPECT_EQ(m.record.envelope.rcpt_to.size(), 3u);
  ASSERT_EQ(m.deliveries.size(), 2u);
  EXPECT_EQ(m.deliveries[0].mailbox, "alice@example.test");
  EXPECT_EQ(m.deliveries[0].recipient, "alice@example.test");
  EXPECT_EQ(m.deliveries[1].mailbox, "bob@example.test");
  EXPECT_EQ(m.deliveries[1].recipient, "team@example.test");
  EXPECT_EQ(m.deliveries[1].index, 1u);
  EXPECT_EQ(test_support::committed_text(m).find("\tfor <"), std::string::npos);
}

// --- QoS parameters (DSN, DELIVERBY, MT-PRIORITY) -----------------------------------------

TEST_F(ServerSessionTest, QosParametersLandInTheMessageAndItsDeliveries) {
  send("EHLO client.example");
  EXPECT_EQ(send("MAIL FROM:<a@b.example> RET=HDRS ENVID=abc+2Bdef BY=3600;NT"),
            "250 2.1.0 Sender OK\r\n");
  EXPECT_EQ(send("RCPT TO:<alice@example.test> NOTIFY=SUCCESS,FAILURE "
                 "ORCPT=rfc822;alice@example.test"),
            "250 2.1.5 Recipient OK\r\n");
  send("RCPT TO:<team@example.test> NOTIFY=NEVER");
  send("DATA");
  send_content("x\r\n.\r\n");
  const AcceptedMessage& m = session_.message_to_commit();
  EXPECT_EQ(m.record.qos.ret, DsnReturn::headers);
  EXPECT_EQ(m.record.qos.envid, "abc+def");
  EXPECT_EQ(m.record.qos.deliver_by, clock_.now() + std::chrono::seconds(3600));
  EXPECT_EQ(m.record.qos.deliver_by_mode, DeliverByMode::notify_if_late);
  EXPECT_TRUE(m.record.qos.deliver_by_trace);
  EXPECT_EQ(m.record.qos.priority, 0);

  ASSERT_EQ(m.deliveries.size(), 2u);
  EXPECT_EQ(m.deliveries[0].notify, (NotifyRequest{true, true, true, false}));
  EXPECT_EQ(m.deliveries[0].original_recipient, "rfc822;alice@example.test");
  // bob came through the alias: he carries the NOTIFY of RCPT TO:<team@…>.
  EXPECT_EQ(m.deliveries[1].recipient, "team@example.test");
  EXPECT_EQ(m.deliveries[1].notify, (NotifyRequest{true, false, false, false}));
  EXPECT_EQ(m.deliveries[1].original_recipient, "");
}

TEST_F(ServerSessionTest, MessageWithoutQosParametersHasDefaultQos) {
  start_transaction();
  send("RCPT TO:<alice@example.test>");
  send("DATA");
  send_content("x\r\n.\r\n");
  const AcceptedMessage& m = session_.message_to_commit();
  EXPECT_EQ(m.record.qos.deliver_by_mode, DeliverByMode::none);
  EXPECT_EQ(m.record.qos.ret, DsnReturn::unspecified);
  EXPECT_FALSE(m.deliveries[0].notify.given);
}

TEST_F(ServerSessionTest, BadQosParameterValuesAreRefusedWith501_5_5_4) {
  start_transaction();
  EXPECT_EQ(send("RCPT TO:<alice@example.test> NOTIFY=NEVER,DELAY").substr(0, 14),
            "501 5.5.4 Synt");
  send("RSET");
  send("EHLO client.example");
  EXPECT_EQ(send("MAIL FROM:<a@b.example> MT-PRIORITY=10").substr(0, 14), "501 5.5.4 Synt");
}

// RFC 2852 4.1: mode R with less time than the announced minimum cannot be honoured.
TEST_F(ServerSessionTest, ReturnByTimeBelowTheMinimumIsRefusedWith501) {
  send("EHLO client.example");
  EXPECT_EQ(send("MAIL FROM:<a@b.example> BY=59;R"),
            "501 5.5.4 BY time below the minimum of 60 seconds\r\n");
  EXPECT_EQ(send("MAIL FROM:<a@b.example> BY=59;N"), "250 2.1.0 Sender OK\r\n");
}

TEST_F(ServerSessionTest, MtPriorityFromAnUnauthenticatedClientIsResetWithALedgerNote) {
  send("EHLO client.example");
  send("MAIL FROM:<a@b.example> MT-PRIORITY=5");
  send("RCPT TO:<alice@example.test>");
  send("DATA");
  send_content("x\r\n.\r\n");
  const AcceptedMessage& m = session_.message_to_commit();
  EXPECT_EQ(m.record.qos.priority, 0);
  const auto& fields = m.events.front().fields;
  EXPECT_EQ(fields.back(),
            (std::pair<std::string, std::string>{
                "priority_reset", "from 5: sender neither authenticated nor trusted"}));
}

TEST_F(ServerSessionTest, MtPriorityFromAnAuthenticatedUserIsHonoured) {
  settings_.submission = true;
  session_.on_tls_started(TlsInfo{"TLSv1.3", "TLS_AES_256_GCM_SHA384"});
  send("EHLO client.example");
  send("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=");
  ASSERT_EQ(last_.next, Next::check_credentials);
  session_.on_credentials_checked("alice@example.test");
  EXPECT_EQ(send("MAIL FROM:<alice@example.test> MT-PRIORITY=-3"), "250 2.1.0 Sender OK\r\n");
  send("RCPT TO:<bob@example.test>");
  send("DATA");
  // A submitted message's From must be the user's (SubmissionSession tests).
  send_content("From: alice@example.test\r\n\r\nx\r\n.\r\n");
  const AcceptedMessage& m = session_.message_to_commit();
  EXPECT_EQ(m.record.qos.priority, -3);
  EXPECT_EQ(m.deliveries.at(0).priority, -3) << "its due entry is filed under it";
  const auto& fields = m.events.front().fields;
  EXPECT_EQ(fields.back(), (std::pair<std::string, std::string>{"priority", "-3"}));
}

TEST_F(ServerSessionTest, FailedCommitAnswers451AndEndsTheTransaction) {
  start_transaction();
  send("RCPT TO:<alice@example.test>");
  send("DATA");
  send_content("x\r\n.\r\n");
  EXPECT_EQ(session_.on_commit_failed().reply->wire(),
            "451 4.3.0 Temporary failure storing the message, try again later\r\n");
  EXPECT_EQ(send("RCPT TO:<alice@example.test>"), "503 5.5.1 Send MAIL first\r\n");
}

TEST_F(ServerSessionTest, ContentWithBareLfIsRefusedAndTheSessionGoesOn) {
  start_transaction();
  send("RCPT TO:<alice@example.test>");
  send("DATA");
  EXPECT_EQ(
      send_content("a\nb\r\n.\r\n"),
      "554 5.6.0 Message contains bare CR, bare LF or NUL (RFC 5321 2.3.8); not accepted\r\n");
  EXPECT_EQ(last_.next, Next::read_command);
  EXPECT_EQ(send("MAIL FROM:<a@client.example>"), "250 2.1.0 Sender OK\r\n");
}

TEST_F(ServerSessionTest, ContentOverTheSizeLimitIsRefusedWith552) {
  start_transaction();
  send("RCPT TO:<alice@example.test>");
  send("DATA");
  EXPECT_EQ(send_content(std::string(1001, 'x') + "\r\n.\r\n"),
            "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
}

TEST_F(ServerSessionTest, OverlongDataLineIsRefusedWith554) {
  settings_.limits.max_message_size = 100000;
  start_transaction();
  send("RCPT TO:<alice@example.test>");
  send("DATA");
  EXPECT_EQ(send_content(std::string(20000, 'x') + "\r\n.\r\n"),
            "554 5.6.0 Message has a line longer than 10000 octets; not accepted\r\n");
}

// --- BDAT --------------------------------------------------------------------------------

TEST_F(ServerSessionTest, BdatChunksMakeOneMessage) {
  start_transaction();
  send("RCPT TO:<alice@example.test>");
  EXPECT_EQ(send_chunk("BDAT 13", "Subject: hi\r\n"), "250 2.0.0 13 octets received\r\n");
  EXPECT_EQ(send_chunk("BDAT 6 LAST", "\r\nbody"), "");
  EXPECT_EQ(last_.next, Next::commit);
  const std::string content = test_support::committed_text(session_.message_to_commit());
  EXPECT_EQ(content.substr(content.find("Subject:")), "Subject: hi\r\n\r\nbody");
}

TEST_F(ServerSessionTest, BdatWithoutAcceptedRecipientReadsTheChunkThenAnswers554) {
  start_transaction();
  send("RCPT TO:<nobody@example.test>");
  EXPECT_EQ(send_chunk("BDAT 5 LAST", "hello"), "554 5.5.1 No valid recipients\r\n");
  EXPECT_EQ(last_.next, Next::read_command);
}

TEST_F(ServerSessionTest, BdatBeforeMailReadsTheChunkThenAnswers503) {
  send("EHLO client.example");
  EXPECT_EQ(send_chunk("BDAT 3", "abc"), "503 5.5.1 Send MAIL first\r\n");
}

TEST_F(ServerSessionTest, DataAfterBdatIsOutOfSequence) {
  start_transaction();
  send("RCPT TO:<alice@example.test>");
  send_chunk("BDAT 3", "a\r\n");
  EXPECT_EQ(send("DATA"), "503 5.5.1 BDAT transfer in progress; send BDAT LAST or RSET first\r\n");
}

TEST_F(ServerSessionTest, BdatWithBareLfIsRefusedAndLaterChunksAreSkipped) {
  start_transaction();
  send("RCPT TO:<alice@example.test>");
  EXPECT_EQ(
      send_chunk("BDAT 3", "a\nb"),
      "554 5.6.0 Message contains bare CR, bare LF or NUL (RFC 5321 2.3.8); not accepted\r\n");
  EXPECT_EQ(send_chunk("BDAT 3 LAST", "c\r\n"), "503 5.5.1 Send MAIL first\r\n");
}

TEST_F(ServerSessionTest, BdatContentOverTheLimitIsRefusedWith552) {
  start_transaction();
  send("RCPT TO:<alice@example.test>");
  EXPECT_EQ(send_chunk("BDAT 1001 LAST", std::string(1001, 'x')),
            "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
}

TEST_F(ServerSessionTest, EmptyLastChunkEndsTheMessage) {
  start_transaction();
  send("RCPT TO:<alice@example.test>");
  send_chunk("BDAT 3", "a\r\n");
  EXPECT_EQ(send_chunk("BDAT 0 LAST", ""), "");
  EXPECT_EQ(last_.next, Next::commit);
}

// --- STARTTLS ----------------------------------------------------------------------------

TEST_F(ServerSessionTest, StarttlsAnswers220AndAsksForTheHandshake) {
  send("EHLO client.example");
  EXPECT_EQ(send("STARTTLS"), "220 2.0.0 Ready to start TLS\r\n");
  EXPECT_EQ(last_.next, Next::start_tls);
}

TEST_F(ServerSessionTest, StarttlsResetsTheSession) {
  send("EHLO client.example");
  send("STARTTLS");
  session_.on_tls_started(TlsInfo{"TLSv1.3", "TLS_AES_256_GCM_SHA384"});
  EXPECT_EQ(send("MAIL FROM:<a@client.example>"), "503 5.5.1 Send EHLO or HELO first\r\n");
  const std::string ehlo = send("EHLO client.example");
  EXPECT_EQ(ehlo.find("STARTTLS"), std::string::npos);
  EXPECT_EQ(send("STARTTLS"), "503 5.5.1 TLS already active\r\n");
}

TEST_F(ServerSessionTest, MessageAfterTlsRecordsTheCipherAndEsmtps) {
  send("EHLO client.example");
  send("STARTTLS");
  session_.on_tls_started(TlsInfo{"TLSv1.3", "TLS_AES_256_GCM_SHA384"});
  start_transaction();
  send("RCPT TO:<alice@example.test>");
  send("DATA");
  send_content("x\r\n.\r\n");
  const AcceptedMessage& m = session_.message_to_commit();
  EXPECT_EQ(m.record.envelope.protocol, "ESMTPS");
  EXPECT_EQ(m.record.envelope.tls_version, "TLSv1.3");
  EXPECT_NE(
      test_support::committed_text(m).find("(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)"),
      std::string::npos);
  EXPECT_EQ(m.events[0].fields[2],
            (std::pair<std::string, std::string>{"tls", "TLSv1.3 TLS_AES_256_GCM_SHA384"}));
}

TEST_F(ServerSessionTest, StarttlsInsideATransactionIsOutOfSequence) {
  start_transaction();
  EXPECT_EQ(send("STARTTLS"), "503 5.5.1 Transaction in progress; send RSET first\r\n");
}

TEST_F(ServerSessionTest, Smtputf8MessagesUseTheUtf8WithType) {
  send("EHLO client.example");
  send("MAIL FROM:<a@client.example> SMTPUTF8");
  send("RCPT TO:<alice@example.test>");
  send("DATA");
  send_content("x\r\n.\r\n");
  EXPECT_EQ(session_.message_to_commit().record.envelope.protocol, "UTF8SMTP");
  EXPECT_TRUE(session_.message_to_commit().record.envelope.smtputf8);
}

// --- other verbs -------------------------------------------------------------------------

TEST_F(ServerSessionTest, SimpleVerbsHaveFixedReplies) {
  EXPECT_EQ(send("NOOP"), "250 2.0.0 OK\r\n");
  EXPECT_EQ(send("VRFY alice"),
            "252 2.5.2 Cannot VRFY user; send mail and delivery will be attempted\r\n");
  EXPECT_EQ(send("HELP").substr(0, 10), "214 2.0.0 ");
  EXPECT_EQ(send("EXPN team"), "502 5.5.1 Command not implemented\r\n");
}

TEST_F(ServerSessionTest, QuitSaysGoodbyeAndCloses) {
  EXPECT_EQ(send("QUIT"), "221 2.0.0 mx.example.test closing connection\r\n");
  EXPECT_EQ(last_.next, Next::close);
}

TEST_F(ServerSessionTest, UnknownCommandIsRefusedWith500) {
  EXPECT_EQ(send("FOO"), "500 5.5.1 Command unrecognized\r\n");
}

TEST_F(ServerSessionTest, OverlongLineIsRefusedWith500_5_5_2) {
  EXPECT_EQ(session_.on_line_too_long().reply->wire(), "500 5.5.2 Line too long\r\n");
}

TEST_F(ServerSessionTest, TimeoutAndShutdownRepliesNameTheHost) {
  EXPECT_EQ(session_.timeout_reply().wire(),
            "421 4.4.2 mx.example.test timeout, closing connection\r\n");
  EXPECT_EQ(session_.shutdown_reply().wire(), "421 4.3.2 mx.example.test shutting down\r\n");
  EXPECT_EQ(too_many_connections_reply("mx.example.test").wire(),
            "421 4.7.0 mx.example.test too many connections, try again later\r\n");
}

// --- error limit -------------------------------------------------------------------------

TEST_F(ServerSessionTest, MoreThanMaxErrorsClosesWith421) {
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(send("FOO"), "500 5.5.1 Command unrecognized\r\n");
    EXPECT_EQ(last_.next, Next::read_command);
  }
  EXPECT_EQ(send("FOO"), "421 4.7.0 mx.example.test too many errors, closing connection\r\n");
  EXPECT_EQ(last_.next, Next::close);
}

TEST_F(ServerSessionTest, UnknownRecipientsCountAsErrors) {
  start_transaction();
  for (int i = 0; i < 5; ++i) send("RCPT TO:<nobody@example.test>");
  EXPECT_EQ(send("RCPT TO:<nobody@example.test>"),
            "421 4.7.0 mx.example.test too many errors, closing connection\r\n");
}

TEST_F(ServerSessionTest, SuccessfulCommandsDoNotCountAsErrors) {
  for (int i = 0; i < 20; ++i) send("NOOP");
  EXPECT_EQ(send("FOO"), "500 5.5.1 Command unrecognized\r\n");
}

}  // namespace
}  // namespace herald
