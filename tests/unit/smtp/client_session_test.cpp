#include "smtp/client_session.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
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

// A message and its content, cut into the pieces the connection hands over.
struct Outbound {
  OutboundMessage message;
  std::vector<std::string> pieces;
};

Outbound message(std::vector<std::string> recipients,
                 std::string content = "Subject: hi\r\n\r\nhello\r\n") {
  Outbound result;
  result.message.reverse_path = "alice@example.net";
  for (std::string& address : recipients) {
    result.message.recipients.push_back({std::move(address), {}, ""});
  }
  result.message.content_size = content.size();
  result.pieces = {std::move(content)};
  return result;
}

// A ClientSession with what the connection does for it: whenever a step asks for content,
// the next piece of the message sent is handed over, and the steps' outputs are joined.
class Connection {
 public:
  explicit Connection(ClientSettings settings) : session_(std::move(settings)) {}

  ClientStep send(const Outbound& outbound) {
    pieces_ = outbound.pieces;
    next_piece_ = 0;
    return follow(session_.send(outbound.message));
  }
  ClientStep on_received(std::string_view bytes) { return follow(session_.on_received(bytes)); }
  ClientStep on_tls_started() { return session_.on_tls_started(); }
  ClientStep on_connection_lost(std::string_view reason) {
    return session_.on_connection_lost(reason);
  }
  ClientStep on_deadline(std::string_view reason) { return session_.on_deadline(reason); }
  ClientStep quit() { return session_.quit(); }

  const std::vector<AttemptResult>& outcomes() const { return session_.outcomes(); }
  const PeerExtensions& extensions() const { return session_.extensions(); }
  bool tls_active() const { return session_.tls_active(); }
  bool in_content() const { return session_.in_content(); }
  const std::string& failure() const { return session_.failure(); }
  ClientWait waiting_for() const { return session_.waiting_for(); }
  size_t replies_read() const { return session_.replies_read(); }
  ClientSession& session() { return session_; }

  // The steps the session took, each piece's on its own: what the connection writes at once.
  const std::vector<std::string>& writes() const { return writes_; }

 private:
  ClientStep follow(ClientStep step) {
    std::string output = step.output;
    bool finished = step.message_finished;
    while (step.next == Next::send_content) {
      const std::string& piece = pieces_.at(next_piece_++);
      step = session_.on_content(piece, next_piece_ == pieces_.size());
      writes_.push_back(step.output);
      output += step.output;
      finished = finished || step.message_finished;
    }
    step.output = std::move(output);
    step.message_finished = finished;
    return step;
  }

  ClientSession session_;
  std::vector<std::string> pieces_;
  size_t next_piece_ = 0;
  std::vector<std::string> writes_;
};

// A session that has greeted a peer offering `keywords` and is ready for a message.
Connection ready_session(const std::vector<std::string>& keywords,
                         ClientSettings client = settings()) {
  Connection session(std::move(client));
  const ClientStep greeted = session.on_received("220 mx.example.org ESMTP\r\n");
  EXPECT_EQ(greeted.output, "EHLO herald.example.net\r\n");
  const ClientStep ready = session.on_received(ehlo_reply(keywords));
  EXPECT_EQ(ready.next, Next::ready);
  return session;
}

TEST(ClientSession, GreetingIsAnsweredWithEhlo) {
  Connection session(settings());
  const ClientStep step = session.on_received("220 mx.example.org ESMTP\r\n");
  EXPECT_EQ(step.output, "EHLO herald.example.net\r\n");
  EXPECT_EQ(step.next, Next::read_reply);
}

TEST(ClientSession, EhloRefusedFallsBackToHelo) {
  Connection session(settings());
  session.on_received("220 old.example.org\r\n");
  const ClientStep helo = session.on_received("500 what?\r\n");
  EXPECT_EQ(helo.output, "HELO herald.example.net\r\n");
  const ClientStep ready = session.on_received("250 old.example.org\r\n");
  EXPECT_EQ(ready.next, Next::ready);
  EXPECT_FALSE(session.extensions().pipelining);
}

TEST(ClientSession, RefusedGreetingEndsWithQuitAndAFailure) {
  Connection session(settings());
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
  Connection session(settings());
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
  Connection session(settings());
  session.on_received("220 mx.example.org\r\n");
  session.on_received(ehlo_reply({"STARTTLS"}));
  const ClientStep step = session.on_received("454 4.7.0 TLS not available\r\n");
  EXPECT_EQ(step.next, Next::ready);
  EXPECT_FALSE(session.tls_active());
}

TEST(ClientSession, OneRecipientIsDeliveredWithoutPipelining) {
  Connection session = ready_session({});
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
  Connection session = ready_session({"PIPELINING"});
  EXPECT_EQ(session.send(message({"a@example.org", "b@example.org"})).output,
            "MAIL FROM:<alice@example.net>\r\nRCPT TO:<a@example.org>\r\n"
            "RCPT TO:<b@example.org>\r\nDATA\r\n");
}

TEST(ClientSession, PipelinedRcptRepliesAreMatchedInOrder) {
  Connection session = ready_session({"PIPELINING", "ENHANCEDSTATUSCODES"});
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
    Connection session = ready_session({"PIPELINING"});
    session.send(message({"a@example.org", "b@example.org"}));
    session.on_received(replies.substr(0, split));
    session.on_received(replies.substr(split));
    ASSERT_EQ(session.outcomes().size(), 2u);
    EXPECT_EQ(session.outcomes()[0].outcome, Outcome::delivered) << split;
    EXPECT_EQ(session.outcomes()[1].outcome, Outcome::permanent) << split;
  }
}

TEST(ClientSession, MailRefusalAppliesToEveryRecipient) {
  Connection session = ready_session({});
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
  Connection session = ready_session({});
  session.send(message({"a@example.org"}));
  session.on_received("250 ok\r\n");
  EXPECT_EQ(session.on_received("550 no such user\r\n").output, "RSET\r\n");
  EXPECT_TRUE(session.on_received("250 ok\r\n").message_finished);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::permanent);
}

TEST(ClientSession, PipelinedDataAfterEveryRcptFailedIsConsumed) {
  Connection session = ready_session({"PIPELINING"});
  session.send(message({"a@example.org"}));
  const ClientStep step = session.on_received("250 ok\r\n550 no\r\n554 no valid recipients\r\n");
  EXPECT_EQ(step.output, "RSET\r\n");
  EXPECT_TRUE(session.on_received("250 ok\r\n").message_finished);
  EXPECT_EQ(session.outcomes()[0].reply, "550 no");
}

TEST(ClientSession, EndOfDataReplyAppliesToEveryAcceptedRecipient) {
  Connection session = ready_session({"PIPELINING"});
  session.send(message({"a@example.org", "b@example.org"}));
  session.on_received("250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
  session.on_received("552 too much mail\r\n");
  for (const AttemptResult& outcome : session.outcomes()) {
    EXPECT_EQ(outcome.outcome, Outcome::permanent);
    EXPECT_EQ(outcome.reply, "552 too much mail");
  }
}

TEST(ClientSession, MessageLargerThanPeerSizeFailsPermanentlyWithoutSending) {
  Connection session = ready_session({"SIZE 10"});
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
  Connection session = ready_session({"SIZE 1000"});
  EXPECT_EQ(session.send(message({"a@example.org"}, "x\r\n")).output,
            "MAIL FROM:<alice@example.net> SIZE=3\r\n");
}

TEST(ClientSession, MessageNeedingSmtputf8IsRefusedByAPeerWithoutIt) {
  Connection session = ready_session({"8BITMIME"});
  const ClientStep step = session.send(message({"jürgen@example.org"}));
  EXPECT_EQ(step.output, "");
  EXPECT_TRUE(step.message_finished);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::permanent);
  EXPECT_NE(session.outcomes()[0].reply.find("SMTPUTF8"), std::string::npos);
}

TEST(ClientSession, EightBitMessageIsRefusedByAPeerWithout8BitMime) {
  Connection session = ready_session({});
  Outbound eight_bit = message({"a@example.org"});
  eight_bit.message.body = BodyType::eight_bit_mime;
  session.send(eight_bit);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::permanent);
  EXPECT_NE(session.outcomes()[0].reply.find("8BITMIME"), std::string::npos);
}

TEST(ClientSession, MailCarriesBodyAndSmtputf8WhenNeeded) {
  Connection session = ready_session({"8BITMIME", "SMTPUTF8"});
  Outbound utf8 = message({"jürgen@example.org"});
  utf8.message.body = BodyType::eight_bit_mime;
  EXPECT_EQ(session.send(utf8).output, "MAIL FROM:<alice@example.net> BODY=8BITMIME SMTPUTF8\r\n");
}

TEST(ClientSession, DsnParametersOnlyWhenThePeerOffersDsn) {
  Outbound with_dsn = message({"a@example.org"});
  with_dsn.message.ret = DsnReturn::headers;
  with_dsn.message.envid = "id+1=2";
  with_dsn.message.recipients[0].notify = {true, true, true, false};
  with_dsn.message.recipients[0].original_recipient = "rfc822;a b@example.org";

  Connection without = ready_session({"PIPELINING"});
  EXPECT_EQ(without.send(with_dsn).output,
            "MAIL FROM:<alice@example.net>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n");

  Connection with = ready_session({"PIPELINING", "DSN"});
  EXPECT_EQ(with.send(with_dsn).output,
            "MAIL FROM:<alice@example.net> RET=HDRS ENVID=id+2B1+3D2\r\n"
            "RCPT TO:<a@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+20b@example.org\r\n"
            "DATA\r\n");
}

TEST(ClientSession, NotifyNeverIsSent) {
  Outbound never = message({"a@example.org"});
  never.message.recipients[0].notify = {true, false, false, false};
  Connection session = ready_session({"PIPELINING", "DSN"});
  EXPECT_NE(session.send(never).output.find("RCPT TO:<a@example.org> NOTIFY=NEVER\r\n"),
            std::string::npos);
}

TEST(ClientSession, ChunkingSendsBdatLastWithoutDotStuffing) {
  Connection session = ready_session({"PIPELINING", "CHUNKING"});
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
  Connection session = ready_session({"CHUNKING"}, small);
  session.send(message({"a@example.org"}, "abcdefghij"));
  session.on_received("250 ok\r\n");
  EXPECT_EQ(session.on_received("250 ok\r\n").output, "BDAT 4\r\nabcd");
  EXPECT_EQ(session.on_received("250 ok\r\n").output, "BDAT 4\r\nefgh");
  EXPECT_EQ(session.on_received("250 ok\r\n").output, "BDAT 2 LAST\r\nij");
  EXPECT_TRUE(session.on_received("250 done\r\n").message_finished);
}

TEST(ClientSession, RefusedChunkFailsAcceptedRecipientsAndResets) {
  Connection session = ready_session({"CHUNKING"});
  session.send(message({"a@example.org"}));
  session.on_received("250 ok\r\n");
  session.on_received("250 ok\r\n");
  EXPECT_EQ(session.on_received("554 rejected\r\n").output, "RSET\r\n");
  EXPECT_TRUE(session.on_received("250 ok\r\n").message_finished);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::permanent);
}

TEST(ClientSession, ConnectionIsReusedForTheNextMessageThenQuit) {
  Connection session = ready_session({"PIPELINING"});
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
  Connection session = ready_session({"PIPELINING"});
  session.send(message({"a@example.org", "b@example.org"}));
  const ClientStep step = session.on_received("250 ok\r\n550 no\r\nHTTP/1.1 400\r\n");
  EXPECT_EQ(step.next, Next::close);
  EXPECT_TRUE(step.message_finished);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::permanent);  // its RCPT was refused
  EXPECT_EQ(session.outcomes()[1].outcome, Outcome::temporary);
  EXPECT_NE(session.outcomes()[1].reply.find("protocol violation"), std::string::npos);
}

TEST(ClientSession, UnexpectedCodeIsAProtocolViolation) {
  Connection session = ready_session({});
  session.send(message({"a@example.org"}));
  const ClientStep step = session.on_received("354 what\r\n");
  EXPECT_EQ(step.next, Next::close);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::temporary);
}

TEST(ClientSession, ServiceClosingIsTemporaryForOpenRecipients) {
  Connection session = ready_session({"PIPELINING"});
  session.send(message({"a@example.org"}));
  session.on_received("250 ok\r\n250 ok\r\n354 go\r\n");
  const ClientStep step = session.on_received("421 4.3.2 shutting down\r\n");
  EXPECT_EQ(step.next, Next::close);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::temporary);
  EXPECT_NE(session.outcomes()[0].reply.find("421 4.3.2 shutting down"), std::string::npos);
}

TEST(ClientSession, LostConnectionIsTemporaryForOpenRecipients) {
  Connection session = ready_session({});
  session.send(message({"a@example.org"}));
  const ClientStep step = session.on_connection_lost("timeout");
  EXPECT_EQ(step.next, Next::close);
  EXPECT_TRUE(step.message_finished);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::temporary);
}

TEST(ClientSession, DeadlineIsTemporaryForOpenRecipientsWithA4_4_2Reason) {
  Connection session = ready_session({});
  session.send(message({"a@example.org"}));
  const ClientStep step = session.on_deadline("timeout after 5m (rcpt_timeout)");
  EXPECT_EQ(step.next, Next::close);
  EXPECT_TRUE(step.message_finished);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::temporary);
  EXPECT_EQ(session.outcomes()[0].reply, "4.4.2 timeout after 5m (rcpt_timeout)");
}

// RFC 5321 4.5.3.2: which reply is awaited decides which timeout runs.
TEST(ClientSession, SaysWhichReplyItWaitsFor) {
  Connection session(settings());
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
  Connection session = ready_session({"CHUNKING"}, small);
  session.send(message({"a@example.org"}, "abcdefgh"));
  session.on_received("250 ok\r\n");
  session.on_received("250 ok\r\n");  // BDAT 4
  EXPECT_EQ(session.waiting_for(), ClientWait::chunk);
  session.on_received("250 ok\r\n");  // BDAT 4 LAST
  EXPECT_EQ(session.waiting_for(), ClientWait::data_end);
}

// A reply sent an octet at a time counts once, when it is complete.
TEST(ClientSession, CountsCompleteRepliesNotReads) {
  Connection session(settings());
  for (const char c : std::string("220 mx.example.org\r\n250-mx.exa")) {
    session.on_received(std::string_view(&c, 1));
  }
  EXPECT_EQ(session.replies_read(), 1u);
  session.on_received("mple.org\r\n250 8BITMIME\r\n");
  EXPECT_EQ(session.replies_read(), 2u);
}

// The content stuffed as the session sends it, handed over in `pieces`.
std::string stuffed(const std::vector<std::string>& pieces) {
  DotStuffer stuffer;
  std::string out;
  for (const std::string& piece : pieces) stuffer.stuff(piece, out);
  return out;
}

TEST(DotStuff, LinesStartingWithADotGetAnotherOne) {
  EXPECT_EQ(stuffed({".a\r\nb\r\n.\r\n .c\r\n"}), "..a\r\nb\r\n..\r\n .c\r\n");
}

TEST(DotStuff, MatchesTheGmimeConformanceCaseWhereverThePiecesAreCut) {
  const auto read = [](const std::string& name) {
    std::ifstream in(std::string(HERALD_CONFORMANCE_DIR) + "/gmime/" + name, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  const std::string input = read("smtp-input.txt");
  const std::string output = read("smtp-output.txt");
  ASSERT_FALSE(input.empty());
  EXPECT_EQ(stuffed({input}), output);
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    EXPECT_EQ(stuffed({input.substr(0, cut), input.substr(cut)}), output) << "cut at " << cut;
  }
}

TEST(DotStuff, KnowsWhetherTheContentEndsInCrlfAcrossPieces) {
  DotStuffer empty;
  EXPECT_TRUE(empty.at_line_end());
  DotStuffer split;
  std::string out;
  split.stuff("a\r", out);
  EXPECT_FALSE(split.at_line_end());
  split.stuff("\n", out);
  EXPECT_TRUE(split.at_line_end());
  split.stuff("", out);
  EXPECT_TRUE(split.at_line_end());
  split.stuff("b", out);
  EXPECT_FALSE(split.at_line_end());
}

// RFC 5321 4.5.2 across pieces: a "." line that begins a piece is stuffed, and so is one
// after a CRLF that two pieces split; each piece is written as it comes.
TEST(ClientSession, DataStuffsDotLinesThatBeginAtAPieceBoundary) {
  Connection session = ready_session({"PIPELINING"});
  Outbound m = message({"a@example.org"});
  m.pieces = {"Subject: hi\r\n\r\nfirst\r\n", ".at a piece start\r",
              "\n.after a split CRLF\r\nend"};
  m.message.content_size = 0;
  for (const std::string& piece : m.pieces) m.message.content_size += piece.size();
  session.send(m);
  const ClientStep content = session.on_received("250 ok\r\n250 ok\r\n354 go\r\n");
  EXPECT_EQ(content.output,
            "Subject: hi\r\n\r\nfirst\r\n..at a piece start\r\n..after a split CRLF\r\nend"
            "\r\n.\r\n");
  EXPECT_EQ(session.writes(),
            (std::vector<std::string>{"Subject: hi\r\n\r\nfirst\r\n", "..at a piece start\r",
                                      "\n..after a split CRLF\r\nend\r\n.\r\n"}));
  EXPECT_EQ(content.next, Next::read_reply);
  EXPECT_TRUE(session.in_content());
  EXPECT_TRUE(session.on_received("250 queued\r\n").message_finished);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::delivered);
}

// RFC 5321 4.1.1.4: no CRLF is added before the final dot when the content ends in one that
// two pieces split, nor when the last piece is empty.
TEST(ClientSession, DataAddsNoCrlfWhenTheContentEndsInOneSplitOverPieces) {
  for (const std::vector<std::string>& pieces :
       {std::vector<std::string>{"a\r", "\n"}, std::vector<std::string>{"a\r\n", ""}}) {
    Connection session = ready_session({"PIPELINING"});
    Outbound m = message({"a@example.org"});
    m.pieces = pieces;
    session.send(m);
    EXPECT_EQ(session.on_received("250 ok\r\n250 ok\r\n354 go\r\n").output, "a\r\n.\r\n");
  }
}

TEST(ClientSession, ChunkingSendsAChunkPerPieceAndSkipsEmptyOnes) {
  Connection session = ready_session({"PIPELINING", "CHUNKING"});
  Outbound m = message({"a@example.org"});
  m.pieces = {"Subject: x\r\n\r\n", ".body\r", "", "\nend\r\n"};
  session.send(m);
  EXPECT_EQ(session.on_received("250 ok\r\n250 ok\r\n").output, "BDAT 14\r\nSubject: x\r\n\r\n");
  EXPECT_EQ(session.waiting_for(), ClientWait::chunk);
  EXPECT_EQ(session.on_received("250 2.0.0 chunk ok\r\n").output, "BDAT 6\r\n.body\r");
  EXPECT_EQ(session.on_received("250 2.0.0 chunk ok\r\n").output, "BDAT 6 LAST\r\n\nend\r\n");
  EXPECT_EQ(session.waiting_for(), ClientWait::data_end);
  EXPECT_TRUE(session.on_received("250 queued\r\n").message_finished);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::delivered);
}

TEST(ClientSession, ChunkingEndsWithAnEmptyLastChunkWhenTheLastPieceIsEmpty) {
  Connection session = ready_session({"PIPELINING", "CHUNKING"});
  Outbound m = message({"a@example.org"});
  m.pieces = {"Subject: x\r\n\r\nbody\r\n", ""};
  session.send(m);
  session.on_received("250 ok\r\n250 ok\r\n");
  EXPECT_EQ(session.on_received("250 ok\r\n").output, "BDAT 0 LAST\r\n");
}

// A body piece that cannot be read must not end the data: the server would take a cut
// message. The connection closes; the recipient is retried.
TEST(ClientSession, UnavailableContentClosesWithoutTheFinalDot) {
  Connection session = ready_session({"PIPELINING"});
  session.send(message({"a@example.org"}));
  const ClientStep asks = session.session().on_received("250 ok\r\n250 ok\r\n354 go\r\n");
  ASSERT_EQ(asks.next, Next::send_content);
  const ClientStep step = session.session().on_content_unavailable("piece 3 lost");
  EXPECT_EQ(step.output, "");
  EXPECT_EQ(step.next, Next::close);
  EXPECT_TRUE(step.message_finished);
  EXPECT_EQ(session.outcomes()[0].outcome, Outcome::temporary);
  EXPECT_EQ(session.outcomes()[0].reply, "4.3.0 piece 3 lost");
}

TEST(ClientSession, ContentWhenNoneIsDueIsACallersBug) {
  Connection session = ready_session({});
  EXPECT_THROW(session.session().on_content("x", true), std::logic_error);
}

}  // namespace
}  // namespace herald
