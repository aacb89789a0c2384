#include "smtp/client_session.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace herald {
namespace {

using Next = ClientStep::Next;
using Outcome = AttemptResult::Outcome;

ClientSettings settings() {
  ClientSettings result;
  result.helo_name = "herald.example.net";
  return result;
}

// The EHLO reply of a peer offering `keywords`, one per line.
std::string ehlo_reply(const std::vector<std::string>& keywords) {
  std::string wire = keywords.empty() ? "250 mx.example.org\r\n" : "250-mx.example.org\r\n";
  for (size_t i = 0; i < keywords.size(); ++i) {
    wire += (i + 1 == keywords.size() ? "250 " : "250-") + keywords[i] + "\r\n";
  }
  return wire;
}

// A session that has greeted a peer offering `keywords` and is ready for a message.
ClientSession ready_session(const std::vector<std::string>& keywords,
                            ClientSettings client = settings()) {
  ClientSession session(std::move(client));
  const ClientStep greeted = session.on_received("220 mx.example.org ESMTP\r\n");
  EXPECT_EQ(greeted.output, "EHLO herald.example.net\r\n");
  const ClientStep ready = session.on_received(ehlo_reply(keywords));
  EXPECT_EQ(ready.next, Next::ready);
  return session;
}

OutboundMessage message(std::vector<std::string> recipients,
                        std::string_view content = "Subject: hi\r\n\r\nhello\r\n") {
  OutboundMessage result;
  result.reverse_path = "alice@example.net";
  for (std::string& address : recipients) result.recipients.push_back({std::move(address), {}, ""});
  result.content = content;
  return result;
}

TEST(ClientSession, GreetingIsAnsweredWithEhlo) {
  ClientSession session(settings());
  const ClientStep step = session.on_received("220 mx.example.org ESMTP\r\n");
  EXPECT_EQ(step.output, "EHLO herald.example.net\r\n");
  EXPECT_EQ(step.next, Next::read_reply);
}

TEST(ClientSession, EhloRefusedFallsBackToHelo) {
  ClientSession session(settings());
  session.on_received("220 old.example.org\r\n");
  const ClientStep helo = session.on_received("500 what?\r\n");
  EXPECT_EQ(helo.output, "HELO herald.example.net\r\n");
  const ClientStep ready = session.on_received("250 old.example.org\r\n");
  EXPECT_EQ(ready.next, Next::ready);
  EXPECT_FALSE(session.extensions().pipelining);
}

TEST(ClientSession, RefusedGreetingEndsWithQuitAndAFailure) {
  ClientSession session(settings());
  const ClientStep step = session.on_received("554 no service here\r\n");
  EXPECT_EQ(step.output, "QUIT\r\n");
  EXPECT_EQ(step.next, Next::close);
  EXPECT_NE(session.failure().find("554"), std::string::npos);
}

TEST(ClientSession, EhloKeywordsAreRead) {
  Reply reply;
  reply.lines = {
      "mx.example.org", "pipelining", "SIZE 35882577",       "8BITMIME",  "SMTPUTF8", "CHUNKING",
      "STARTTLS",       "DSN",        "ENHANCEDSTATUSCODES", "AUTH PLAIN"};
  const PeerExtensions extensions = parse_ehlo_keywords(reply);
  EXPECT_TRUE(extensions.pipelining);
  EXPECT_EQ(extensions.size, 35882577u);
  EXPECT_TRUE(extensions.eight_bit_mime);
  EXPECT_TRUE(extensions.smtputf8);
  EXPECT_TRUE(extensions.chunking);
  EXPECT_TRUE(extensions.starttls);
  EXPECT_TRUE(extensions.dsn);
  EXPECT_TRUE(extensions.enhanced_status_codes);
}

TEST(ClientSession, SizeWithoutNumberMeansNoFixedLimit) {
  Reply reply;
  reply.lines = {"mx.example.org", "SIZE"};
  EXPECT_EQ(parse_ehlo_keywords(reply).size, 0u);
}

TEST(ClientSession, StartTlsIsOpportunisticAndEhloFollowsTheHandshake) {
  ClientSession session(settings());
  session.on_received("220 mx.example.org\r\n");
  const ClientStep starttls = session.on_received(ehlo_reply({"STARTTLS", "PIPELINING"}));
  EXPECT_EQ(starttls.output, "STARTTLS\r\n");
  // RFC 3207: what follows the 220 before the handshake is thrown away.
  const ClientStep handshake = session.on_received("220 go ahead\r\n250 injected\r\n");
  EXPECT_EQ(handshake.next, Next::start_tls);
  const ClientStep ehlo = session.on_tls_started();
  EXPECT_EQ(ehlo.output, "EHLO herald.example.net\r\n");
  EXPECT_FALSE(session.extensions().pipelining);
  const ClientStep ready = session.on_received(ehlo_reply({"STARTTLS", "PIPELINING"}));
  EXPECT_EQ(ready.next, Next::ready);
  EXPECT_TRUE(session.tls_active());
  EXPECT_TRUE(session.extensions().pipelining);
}

TEST(ClientSession, RefusedStartTlsContinuesInClearText) {
  ClientSession session(settings());
  session.on_received("220 mx.example.org\r\n");
  session.on_received(ehlo_reply({"STARTTLS"}));
  const ClientStep step = session.on_received("454 4.7.0 TLS not available\r\n");
  EXPECT_EQ(step.next, Next::ready);
  EXPECT_FALSE(session.tls_active());
}

TEST(ClientSession, OneRecipientIsDeliveredWithoutPipelining) {
  ClientSession session = ready_session({});
  const std::string content = "Subject: hi\r\n\r\n.leading dot\r\n";
  EXPECT_EQ(session.send(message({"bob@example.org"}, content)).output,
            "MAIL FROM:<alice@example.net>\r\n");
  EXPECT_EQ(session.on_received("250 ok\r\n").output, "RCPT TO:<bob@example.org>\r\n");
  EXPECT_EQ(session.on_received("250 ok\r\n").output, "DATA\r\n");
  EXPECT_EQ(session.on_received("354 go\r\n").output, "Subject: hi\r\n\r\n..leading dot\r\n.\r\n");
  const ClientStep done = session.on_received("250 queued as 12345\r\n");
  EXPECT_TRUE(done.message_finished);
  EXPECT_EQ(done.next, Next::ready);
  ASSERT_EQ(session.outcomes().size(), 1u);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::delivered);
  EXPECT_EQ(session.outcomes()[0].reply, "250 queued as 12345");
}

TEST(ClientSession, PipelinedGroupIsSentAtOnce) {
  ClientSession session = ready_session({"PIPELINING"});
  EXPECT_EQ(session.send(message({"a@example.org", "b@example.org"})).output,
            "MAIL FROM:<alice@example.net>\r\nRCPT TO:<a@example.org>\r\n"
            "RCPT TO:<b@example.org>\r\nDATA\r\n");
}

TEST(ClientSession, PipelinedRcptRepliesAreMatchedInOrder) {
  ClientSession session = ready_session({"PIPELINING", "ENHANCEDSTATUSCODES"});
  session.send(message({"a@example.org", "b@example.org", "c@example.org", "d@example.org"}));
  const ClientStep data = session.on_received(
      "250 2.1.0 sender ok\r\n250 2.1.5 a ok\r\n550 5.1.1 no b\r\n450 4.2.1 c later\r\n"
      "250 2.1.5 d ok\r\n354 go on\r\n");
  EXPECT_EQ(data.output, "Subject: hi\r\n\r\nhello\r\n.\r\n");
  const ClientStep done = session.on_received("250 2.0.0 queued\r\n");
  EXPECT_TRUE(done.message_finished);
  const std::vector<AttemptResult>& outcomes = session.outcomes();
  ASSERT_EQ(outcomes.size(), 4u);
  EXPECT_EQ(outcomes[0].outcome, Outcome::delivered);
  EXPECT_EQ(outcomes[0].reply, "250 2.0.0 queued");
  EXPECT_EQ(outcomes[1].outcome, Outcome::permanent);
  EXPECT_EQ(outcomes[1].reply, "550 5.1.1 no b");
  EXPECT_EQ(outcomes[2].outcome, Outcome::temporary);
  EXPECT_EQ(outcomes[2].reply, "450 4.2.1 c later");
  EXPECT_EQ(outcomes[3].outcome, Outcome::delivered);
}

TEST(ClientSession, PipelinedRepliesSplitAtEveryByteGiveTheSameOutcomes) {
  const std::string replies = "250 ok\r\n250-a\r\n250 ok\r\n550 no\r\n354 go\r\n250 done\r\n";
  for (size_t split = 0; split <= replies.size(); ++split) {
    ClientSession session = ready_session({"PIPELINING"});
    session.send(message({"a@example.org", "b@example.org"}));
    session.on_received(replies.substr(0, split));
    session.on_received(replies.substr(split));
    ASSERT_EQ(session.outcomes().size(), 2u);
    EXPECT_EQ(session.outcomes()[0].outcome, Outcome::delivered) << split;
    EXPECT_EQ(session.outcomes()[1].outcome, Outcome::permanent) << split;
  }
}

TEST(ClientSession, MailRefusalAppliesToEveryRecipient) {
  ClientSession session = ready_session({});
  session.send(message({"a@example.org", "b@example.org"}));
  const ClientStep step = session.on_received("451 4.3.0 try later\r\n");
  EXPECT_EQ(step.output, "RSET\r\n");
  const ClientStep done = session.on_received("250 flushed\r\n");
  EXPECT_TRUE(done.message_finished);
  EXPECT_EQ(done.next, Next::ready);
  for (const AttemptResult& outcome : session.outcomes()) {
    EXPECT_EQ(outcome.outcome, Outcome::temporary);
    EXPECT_EQ(outcome.reply, "451 4.3.0 try later");
  }
}

TEST(ClientSession, NoRecipientAcceptedMeansRsetWithoutData) {
  ClientSession session = ready_session({});
  session.send(message({"a@example.org"}));
  session.on_received("250 ok\r\n");
  EXPECT_EQ(session.on_received("550 no such user\r\n").output, "RSET\r\n");
  EXPECT_TRUE(session.on_received("250 ok\r\n").message_finished);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::permanent);
}

TEST(ClientSession, PipelinedDataAfterEveryRcptFailedIsConsumed) {
  ClientSession session = ready_session({"PIPELINING"});
  session.send(message({"a@example.org"}));
  const ClientStep step = session.on_received("250 ok\r\n550 no\r\n554 no valid recipients\r\n");
  EXPECT_EQ(step.output, "RSET\r\n");
  EXPECT_TRUE(session.on_received("250 ok\r\n").message_finished);
  EXPECT_EQ(session.outcomes()[0].reply, "550 no");
}

TEST(ClientSession, EndOfDataReplyAppliesToEveryAcceptedRecipient) {
  ClientSession session = ready_session({"PIPELINING"});
  session.send(message({"a@example.org", "b@example.org"}));
  session.on_received("250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
  session.on_received("552 too much mail\r\n");
  for (const AttemptResult& outcome : session.outcomes()) {
    EXPECT_EQ(outcome.outcome, Outcome::permanent);
    EXPECT_EQ(outcome.reply, "552 too much mail");
  }
}

TEST(ClientSession, MessageLargerThanPeerSizeFailsPermanentlyWithoutSending) {
  ClientSession session = ready_session({"SIZE 10"});
  const ClientStep step = session.send(message({"a@example.org", "b@example.org"}));
  EXPECT_EQ(step.output, "");
  EXPECT_TRUE(step.message_finished);
  EXPECT_EQ(step.next, Next::ready);
  for (const AttemptResult& outcome : session.outcomes()) {
    EXPECT_EQ(outcome.outcome, Outcome::permanent);
    EXPECT_NE(outcome.reply.find("exceeds the peer's fixed maximum of 10"), std::string::npos);
  }
}

TEST(ClientSession, MailCarriesSizeWhenOffered) {
  ClientSession session = ready_session({"SIZE 1000"});
  EXPECT_EQ(session.send(message({"a@example.org"}, "x\r\n")).output,
            "MAIL FROM:<alice@example.net> SIZE=3\r\n");
}

TEST(ClientSession, MessageNeedingSmtputf8IsRefusedByAPeerWithoutIt) {
  ClientSession session = ready_session({"8BITMIME"});
  const ClientStep step = session.send(message({"jürgen@example.org"}));
  EXPECT_EQ(step.output, "");
  EXPECT_TRUE(step.message_finished);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::permanent);
  EXPECT_NE(session.outcomes()[0].reply.find("SMTPUTF8"), std::string::npos);
}

TEST(ClientSession, EightBitMessageIsRefusedByAPeerWithout8BitMime) {
  ClientSession session = ready_session({});
  OutboundMessage eight_bit = message({"a@example.org"});
  eight_bit.body = BodyType::eight_bit_mime;
  session.send(eight_bit);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::permanent);
  EXPECT_NE(session.outcomes()[0].reply.find("8BITMIME"), std::string::npos);
}

TEST(ClientSession, MailCarriesBodyAndSmtputf8WhenNeeded) {
  ClientSession session = ready_session({"8BITMIME", "SMTPUTF8"});
  OutboundMessage utf8 = message({"jürgen@example.org"});
  utf8.body = BodyType::eight_bit_mime;
  EXPECT_EQ(session.send(utf8).output, "MAIL FROM:<alice@example.net> BODY=8BITMIME SMTPUTF8\r\n");
}

TEST(ClientSession, DsnParametersOnlyWhenThePeerOffersDsn) {
  OutboundMessage with_dsn = message({"a@example.org"});
  with_dsn.ret = DsnReturn::headers;
  with_dsn.envid = "id+1=2";
  with_dsn.recipients[0].notify = {true, true, true, false};
  with_dsn.recipients[0].original_recipient = "rfc822;a b@example.org";

  ClientSession without = ready_session({"PIPELINING"});
  EXPECT_EQ(without.send(with_dsn).output,
            "MAIL FROM:<alice@example.net>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n");

  ClientSession with = ready_session({"PIPELINING", "DSN"});
  EXPECT_EQ(with.send(with_dsn).output,
            "MAIL FROM:<alice@example.net> RET=HDRS ENVID=id+2B1+3D2\r\n"
            "RCPT TO:<a@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+20b@example.org\r\n"
            "DATA\r\n");
}

TEST(ClientSession, NotifyNeverIsSent) {
  OutboundMessage never = message({"a@example.org"});
  never.recipients[0].notify = {true, false, false, false};
  ClientSession session = ready_session({"PIPELINING", "DSN"});
  EXPECT_NE(session.send(never).output.find("RCPT TO:<a@example.org> NOTIFY=NEVER\r\n"),
            std::string::npos);
}

TEST(ClientSession, ChunkingSendsBdatLastWithoutDotStuffing) {
  ClientSession session = ready_session({"PIPELINING", "CHUNKING"});
  const std::string content = ".dot\r\n";
  EXPECT_EQ(session.send(message({"a@example.org"}, content)).output,
            "MAIL FROM:<alice@example.net>\r\nRCPT TO:<a@example.org>\r\n");
  EXPECT_EQ(session.on_received("250 ok\r\n250 ok\r\n").output, "BDAT 6 LAST\r\n.dot\r\n");
  EXPECT_TRUE(session.on_received("250 queued\r\n").message_finished);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::delivered);
}

TEST(ClientSession, ChunkingSplitsLongContent) {
  ClientSettings small = settings();
  small.chunk_size = 4;
  ClientSession session = ready_session({"CHUNKING"}, small);
  session.send(message({"a@example.org"}, "abcdefghij"));
  session.on_received("250 ok\r\n");
  EXPECT_EQ(session.on_received("250 ok\r\n").output, "BDAT 4\r\nabcd");
  EXPECT_EQ(session.on_received("250 ok\r\n").output, "BDAT 4\r\nefgh");
  EXPECT_EQ(session.on_received("250 ok\r\n").output, "BDAT 2 LAST\r\nij");
  EXPECT_TRUE(session.on_received("250 done\r\n").message_finished);
}

TEST(ClientSession, RefusedChunkFailsAcceptedRecipientsAndResets) {
  ClientSession session = ready_session({"CHUNKING"});
  session.send(message({"a@example.org"}));
  session.on_received("250 ok\r\n");
  session.on_received("250 ok\r\n");
  EXPECT_EQ(session.on_received("554 rejected\r\n").output, "RSET\r\n");
  EXPECT_TRUE(session.on_received("250 ok\r\n").message_finished);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::permanent);
}

TEST(ClientSession, ConnectionIsReusedForTheNextMessageThenQuit) {
  ClientSession session = ready_session({"PIPELINING"});
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(session.send(message({"a@example.org"})).output,
              "MAIL FROM:<alice@example.net>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n");
    session.on_received("250 ok\r\n250 ok\r\n354 go\r\n");
    const ClientStep done = session.on_received("250 queued\r\n");
    EXPECT_EQ(done.next, Next::ready);
    EXPECT_EQ(session.outcomes()[0].outcome, Outcome::delivered);
  }
  EXPECT_EQ(session.quit().output, "QUIT\r\n");
  EXPECT_EQ(session.on_received("221 bye\r\n").next, Next::close);
  EXPECT_EQ(session.failure(), "");
}

TEST(ClientSession, GarbageFromTheServerIsTemporaryForOpenRecipients) {
  ClientSession session = ready_session({"PIPELINING"});
  session.send(message({"a@example.org", "b@example.org"}));
  const ClientStep step = session.on_received("250 ok\r\n550 no\r\nHTTP/1.1 400\r\n");
  EXPECT_EQ(step.next, Next::close);
  EXPECT_TRUE(step.message_finished);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::permanent);  // its RCPT was refused
  EXPECT_EQ(session.outcomes()[1].outcome, Outcome::temporary);
  EXPECT_NE(session.outcomes()[1].reply.find("protocol violation"), std::string::npos);
}

TEST(ClientSession, UnexpectedCodeIsAProtocolViolation) {
  ClientSession session = ready_session({});
  session.send(message({"a@example.org"}));
  const ClientStep step = session.on_received("354 what\r\n");
  EXPECT_EQ(step.next, Next::close);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::temporary);
}

TEST(ClientSession, ServiceClosingIsTemporaryForOpenRecipients) {
  ClientSession session = ready_session({"PIPELINING"});
  session.send(message({"a@example.org"}));
  session.on_received("250 ok\r\n250 ok\r\n354 go\r\n");
  const ClientStep step = session.on_received("421 4.3.2 shutting down\r\n");
  EXPECT_EQ(step.next, Next::close);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::temporary);
  EXPECT_NE(session.outcomes()[0].reply.find("421 4.3.2 shutting down"), std::string::npos);
}

TEST(ClientSession, LostConnectionIsTemporaryForOpenRecipients) {
  ClientSession session = ready_session({});
  session.send(message({"a@example.org"}));
  const ClientStep step = session.on_connection_lost("timeout");
  EXPECT_EQ(step.next, Next::close);
  EXPECT_TRUE(step.message_finished);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::temporary);
}

TEST(ClientSession, DeadlineIsTemporaryForOpenRecipientsWithA4_4_2Reason) {
  ClientSession session = ready_session({});
  session.send(message({"a@example.org"}));
  const ClientStep step = session.on_deadline("timeout after 5m (rcpt_timeout)");
  EXPECT_EQ(step.next, Next::close);
  EXPECT_TRUE(step.message_finished);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::temporary);
  EXPECT_EQ(session.outcomes()[0].reply, "4.4.2 timeout after 5m (rcpt_timeout)");
}

// RFC 5321 4.5.3.2: which reply is awaited decides which timeout runs.
TEST(ClientSession, SaysWhichReplyItWaitsFor) {
  ClientSession session(settings());
  EXPECT_EQ(session.waiting_for(), ClientWait::greeting);
  session.on_received("220 mx.example.org ESMTP\r\n");
  EXPECT_EQ(session.waiting_for(), ClientWait::command);  // EHLO
  session.on_received(ehlo_reply({}));
  session.send(message({"a@example.org"}));
  EXPECT_EQ(session.waiting_for(), ClientWait::mail);
  session.on_received("250 ok\r\n");
  EXPECT_EQ(session.waiting_for(), ClientWait::rcpt);
  session.on_received("250 ok\r\n");
  EXPECT_EQ(session.waiting_for(), ClientWait::data_init);
  session.on_received("354 go on\r\n");
  EXPECT_TRUE(session.in_content());
  EXPECT_EQ(session.waiting_for(), ClientWait::data_end);
}

TEST(ClientSession, BdatChunksWaitAsDataBlocksAndTheLastAsTheEndOfData) {
  ClientSettings small = settings();
  small.chunk_size = 4;
  ClientSession session = ready_session({"CHUNKING"}, small);
  session.send(message({"a@example.org"}, "abcdefgh"));
  session.on_received("250 ok\r\n");
  session.on_received("250 ok\r\n");  // BDAT 4
  EXPECT_EQ(session.waiting_for(), ClientWait::chunk);
  session.on_received("250 ok\r\n");  // BDAT 4 LAST
  EXPECT_EQ(session.waiting_for(), ClientWait::data_end);
}

// A reply sent an octet at a time counts once, when it is complete.
TEST(ClientSession, CountsCompleteRepliesNotReads) {
  ClientSession session(settings());
  for (const char c : std::string("220 mx.example.org\r\n250-mx.exa")) {
    session.on_received(std::string_view(&c, 1));
  }
  EXPECT_EQ(session.replies_read(), 1u);
  session.on_received("mple.org\r\n250 8BITMIME\r\n");
  EXPECT_EQ(session.replies_read(), 2u);
}

TEST(DotStuff, LinesStartingWithADotGetAnotherOne) {
  EXPECT_EQ(dot_stuff(".a\r\nb\r\n.\r\n .c\r\n"), "..a\r\nb\r\n..\r\n .c\r\n");
}

TEST(DotStuff, MatchesTheGmimeConformanceCase) {
  const auto read = [](const std::string& name) {
    std::ifstream in(std::string(HERALD_CONFORMANCE_DIR) + "/gmime/" + name, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  const std::string input = read("smtp-input.txt");
  ASSERT_FALSE(input.empty());
  EXPECT_EQ(dot_stuff(input), read("smtp-output.txt"));
}

}  // namespace
}  // namespace herald
