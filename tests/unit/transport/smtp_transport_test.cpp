#include "transport/smtp_transport.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <string>
#include <vector>

#include "transport/smtp_peers.h"
#include "transport/smtp_transport_fixture.h"

namespace herald {
namespace {

using test_support::AiosmtpdPeer;
using test_support::free_tcp_port;
using test_support::SmtpSink;
using test_support::wait_until;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using ::testing::StartsWith;
using Outcome = AttemptResult::Outcome;

TEST_F(SmtpTransportTest, DeliveredMessageRecordsTheRemoteReplyPeerAndDsnParameters) {
  const uint16_t port = free_tcp_port("127.0.0.1");
  SmtpSink sink("127.0.0.1", port);
  dns_.add_a("relay.example.test", "127.0.0.1");
  transport({route(port)});

  const AttemptResult result = attempt();

  EXPECT_EQ(result.outcome, Outcome::delivered);
  EXPECT_THAT(result.reply, StartsWith("250 2.0.0"));
  EXPECT_THAT(result.fields,
              Contains(Pair("remote", "relay.example.test[127.0.0.1]:" + std::to_string(port))));
  EXPECT_THAT(result.fields, Contains(Pair("tls", "no")));
  EXPECT_THAT(result.fields, Contains(Pair("remote_mta", "relay.example.test")));
  ASSERT_EQ(sink.messages().size(), 1u);
  const std::string dump = sink.messages()[0];
  // smtp-sink offers DSN: RET, ENVID, NOTIFY and ORCPT pass through (RFC 3461 4).
  EXPECT_THAT(dump, HasSubstr("X-Mail-Args: <alice@sender.test> RET=HDRS ENVID=envelope-1"));
  EXPECT_THAT(
      dump,
      HasSubstr("X-Rcpt-Args: <bob@example.test> NOTIFY=FAILURE ORCPT=rfc822;bob@example.test"));
  EXPECT_THAT(dump, HasSubstr("Subject: outbound test"));
}

// A copy an alias forwards leaves with its own (SRS) sender, not the message's.
TEST_F(SmtpTransportTest, DeliveryWithItsOwnEnvelopeSenderSendsItAsMailFrom) {
  const uint16_t port = free_tcp_port("127.0.0.1");
  SmtpSink sink("127.0.0.1", port);
  dns_.add_a("relay.example.test", "127.0.0.1");
  transport({route(port)});
  Delivery forwarded = delivery();
  forwarded.envelope_sender = "SRS0=8zoU=JS=sender.test=alice@mx.herald.test";

  EXPECT_EQ(attempt(kContent, message(), forwarded).outcome, Outcome::delivered);

  ASSERT_EQ(sink.messages().size(), 1u);
  EXPECT_THAT(sink.messages()[0],
              HasSubstr("X-Mail-Args: <SRS0=8zoU=JS=sender.test=alice@mx.herald.test>"));
}

TEST_F(SmtpTransportTest, RecipientRefusedWith4xxIsTemporaryWithTheRemoteReply) {
  const uint16_t port = free_tcp_port("127.0.0.1");
  SmtpSink sink("127.0.0.1", port, {"-r", "RCPT", "-b", "451 4.2.1 mailbox busy, try later"});
  dns_.add_a("relay.example.test", "127.0.0.1");
  transport({route(port)});

  const AttemptResult result = attempt();

  EXPECT_EQ(result.outcome, Outcome::temporary);
  EXPECT_EQ(result.reply, "451 4.2.1 mailbox busy, try later");
  EXPECT_TRUE(sink.messages().empty());
}

TEST_F(SmtpTransportTest, RecipientRefusedWith5xxIsPermanentWithTheRemoteReply) {
  const uint16_t port = free_tcp_port("127.0.0.1");
  SmtpSink sink("127.0.0.1", port,
                {"-f", "RCPT", "-B", "550 5.1.1 <bob@example.test>: no such user"});
  dns_.add_a("relay.example.test", "127.0.0.1");
  transport({route(port)});

  const AttemptResult result = attempt();

  EXPECT_EQ(result.outcome, Outcome::permanent);
  EXPECT_EQ(result.reply, "550 5.1.1 <bob@example.test>: no such user");
  EXPECT_THAT(result.fields, Contains(Pair("remote_mta", "relay.example.test")));
  EXPECT_TRUE(sink.messages().empty());
}

TEST_F(SmtpTransportTest, OutcomesArePerRecipientOnOneConnection) {
  const uint16_t port = free_tcp_port("127.0.0.1");
  AiosmtpdPeer peer("127.0.0.1", port,
                    R"({"rcpt_replies": {"nobody@example.test": "550 5.1.1 no such user"}})");
  dns_.add_a("relay.example.test", "127.0.0.1");
  transport({route(port)});

  const AttemptResult refused = attempt(kContent, message(), delivery("nobody@example.test"));
  const AttemptResult delivered = attempt(kContent, message(), delivery("bob@example.test"));

  EXPECT_EQ(refused.outcome, Outcome::permanent);
  EXPECT_EQ(refused.reply, "550 5.1.1 no such user");
  EXPECT_EQ(delivered.outcome, Outcome::delivered);
  EXPECT_EQ(delivered.reply, "250 2.0.0 queued as 42");
  const std::string events = peer.events();
  EXPECT_THAT(events, HasSubstr(R"("rcpts": ["bob@example.test"])"));
  EXPECT_THAT(events, Not(HasSubstr(R"("rcpts": ["nobody@example.test"])")));
}

// RFC 5321 3.3: one MAIL, a RCPT per recipient, one copy of the content; each recipient has
// the outcome its own RCPT (or the end of data) gave.
TEST_F(SmtpTransportTest, RecipientsOfOneMessageShareOneTransaction) {
  const uint16_t port = free_tcp_port("127.0.0.1");
  AiosmtpdPeer peer("127.0.0.1", port,
                    R"({"rcpt_replies": {"nobody@example.test": "550 5.1.1 no such user"}})");
  dns_.add_a("relay.example.test", "127.0.0.1");
  transport({route(port)});
  Delivery carol = delivery("carol@example.test");
  carol.index = 2;

  const std::vector<AttemptResult> results = transport_->attempt_together(
      message(), {delivery("bob@example.test"), delivery("nobody@example.test"), carol},
      MessageContent::from_text(kContent));

  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].outcome, Outcome::delivered);
  EXPECT_EQ(results[1].outcome, Outcome::permanent);
  EXPECT_EQ(results[1].reply, "550 5.1.1 no such user");
  EXPECT_EQ(results[2].outcome, Outcome::delivered);
  const std::string events = peer.events();
  EXPECT_THAT(events, HasSubstr(R"("rcpts": ["bob@example.test", "carol@example.test"])"));
  size_t mails = 0;
  for (size_t at = 0; (at = events.find(R"("event": "mail")", at)) != std::string::npos; ++at) {
    ++mails;
  }
  EXPECT_EQ(mails, 1u) << events;
}

TEST_F(SmtpTransportTest, NullMxIsPermanent) {
  dns_.add_mx("nomail.test", 0, ".");
  transport();

  const AttemptResult result = attempt(kContent, message(), delivery("bob@nomail.test"));

  EXPECT_EQ(result.outcome, Outcome::permanent);
  EXPECT_THAT(result.reply, StartsWith("556 5.1.10"));
}

TEST_F(SmtpTransportTest, DomainThatDoesNotExistIsPermanent) {
  transport();

  const AttemptResult result = attempt(kContent, message(), delivery("bob@nowhere.test"));

  EXPECT_EQ(result.outcome, Outcome::permanent);
  EXPECT_THAT(result.reply, StartsWith("5.1.2"));
  EXPECT_THAT(result.reply, HasSubstr("nowhere.test"));
}

TEST_F(SmtpTransportTest, DnsServerFailureIsTemporary) {
  dns_.fail("broken.test", DnsStatus::servfail);
  transport();

  const AttemptResult result = attempt(kContent, message(), delivery("bob@broken.test"));

  EXPECT_EQ(result.outcome, Outcome::temporary);
  EXPECT_THAT(result.reply, StartsWith("4.4.3"));
}

TEST_F(SmtpTransportTest, MxPointingBackToHeraldIsPermanent) {
  dns_.add_mx("loop.test", 10, "mx.herald.test");
  transport();

  const AttemptResult result = attempt(kContent, message(), delivery("bob@loop.test"));

  EXPECT_EQ(result.outcome, Outcome::permanent);
  EXPECT_THAT(result.reply, StartsWith("554 5.4.6"));
}

TEST_F(SmtpTransportTest, MxHostsWithoutAnyAddressArePermanent) {
  dns_.add_mx("ghost.test", 10, "mx.ghost.test");
  transport();

  const AttemptResult result = attempt(kContent, message(), delivery("bob@ghost.test"));

  EXPECT_EQ(result.outcome, Outcome::permanent);
  EXPECT_THAT(result.reply, StartsWith("5.4.4"));
}

TEST_F(SmtpTransportTest, UnreachableAddressIsSkippedForTheNextOne) {
  // Nothing listens on 127.0.0.2 at that port: the connection is refused.
  const uint16_t port = free_tcp_port("127.0.0.3");
  SmtpSink sink("127.0.0.3", port);
  dns_.add_a("relay.example.test", "127.0.0.2");
  dns_.add_a("relay.example.test", "127.0.0.3");
  transport({route(port)});

  const AttemptResult result = attempt();

  EXPECT_EQ(result.outcome, Outcome::delivered);
  EXPECT_THAT(result.fields,
              Contains(Pair("remote", "relay.example.test[127.0.0.3]:" + std::to_string(port))));
  EXPECT_EQ(sink.messages().size(), 1u);
}

TEST_F(SmtpTransportTest, ServerRefusingTheSessionInItsGreetingIsSkippedForTheNext) {
  const uint16_t port = free_tcp_port("127.0.0.3");
  SmtpSink refusing("127.0.0.2", port, {"-f", "CONNECT"});
  SmtpSink accepting("127.0.0.3", port);
  dns_.add_a("relay.example.test", "127.0.0.2");
  dns_.add_a("relay.example.test", "127.0.0.3");
  transport({route(port)});

  const AttemptResult result = attempt();

  EXPECT_EQ(result.outcome, Outcome::delivered);
  EXPECT_TRUE(refusing.messages().empty());
  EXPECT_EQ(accepting.messages().size(), 1u);
}

TEST_F(SmtpTransportTest, NoReachableHostIsTemporaryWithTheLastError) {
  const uint16_t port = free_tcp_port("127.0.0.2");
  dns_.add_a("relay.example.test", "127.0.0.2");
  transport({route(port)});

  const AttemptResult result = attempt();

  EXPECT_EQ(result.outcome, Outcome::temporary);
  EXPECT_THAT(result.reply, StartsWith("4.4.1"));
  EXPECT_THAT(result.reply, HasSubstr("127.0.0.2"));
}

// MX hosts listen on port 25 (RFC 5321 4.5.4.2), which only a privileged process can bind;
// the same fallback through a route runs everywhere (UnreachableAddressIsSkippedForTheNextOne).
// RFC 5321 5.1: the hosts are tried in order of preference; one that refuses connections
// is passed over. [outbound] mx_port puts the MX hosts on a port a test may bind.
TEST_F(SmtpTransportTest, FirstMxHostDownSecondIsUsed) {
  const std::string down = "127.0.0." + std::to_string(100 + ::getpid() % 70 * 2);
  const std::string up = "127.0.0." + std::to_string(101 + ::getpid() % 70 * 2);
  const uint16_t port = free_tcp_port(up);
  SmtpSink sink(up, port);
  dns_.add_mx("example.test", 10, "mx1.example.test");
  dns_.add_mx("example.test", 20, "mx2.example.test");
  dns_.add_a("mx1.example.test", down);
  dns_.add_a("mx2.example.test", up);
  config_.mx_port = port;
  transport();

  const AttemptResult result = attempt();

  EXPECT_EQ(result.outcome, Outcome::delivered);
  EXPECT_THAT(result.fields,
              Contains(Pair("remote", "mx2.example.test[" + up + "]:" + std::to_string(port))));
  EXPECT_THAT(result.fields, Contains(Pair("remote_mta", "mx2.example.test")));
}

// An MX host with only an IPv6 address is reached over IPv6.
TEST_F(SmtpTransportTest, AnMxHostWithOnlyAnIpv6AddressIsReachedOverIpv6) {
  const uint16_t port = free_tcp_port("::1");
  if (port == 0) GTEST_SKIP() << "no IPv6 loopback here";
  AiosmtpdPeer peer("::1", port, "{}");
  dns_.add_mx("example.test", 10, "mx6.example.test");
  dns_.add_aaaa("mx6.example.test", "::1");
  config_.mx_port = port;
  transport();

  const AttemptResult result = attempt();

  EXPECT_EQ(result.outcome, Outcome::delivered) << result.reply;
  EXPECT_THAT(result.fields,
              Contains(Pair("remote", "mx6.example.test[::1]:" + std::to_string(port))));
  EXPECT_THAT(peer.events(), HasSubstr("\"event\": \"data\""));
}

TEST_F(SmtpTransportTest, SecondMessageToTheSameDestinationReusesTheConnection) {
  const uint16_t port = free_tcp_port("127.0.0.1");
  SmtpSink sink("127.0.0.1", port);
  dns_.add_a("relay.example.test", "127.0.0.1");
  transport({route(port)});

  EXPECT_EQ(attempt().outcome, Outcome::delivered);
  EXPECT_EQ(attempt().outcome, Outcome::delivered);
  transport_->shutdown();  // the idle connection says QUIT

  // smtp-sink counts sessions when they end: one session carried both messages.
  EXPECT_TRUE(wait_until([&] { return sink.counters() == "sess=1 quit=1 mesg=2"; }))
      << sink.counters();
}

TEST_F(SmtpTransportTest, ConnectionClosedByThePeerWhileIdleIsReplacedWithoutFailing) {
  const uint16_t port = free_tcp_port("127.0.0.1");
  SmtpSink sink("127.0.0.1", port, {"-t", "1"});  // it drops a session idle for a second
  dns_.add_a("relay.example.test", "127.0.0.1");
  transport({route(port)});

  EXPECT_EQ(attempt().outcome, Outcome::delivered);
  ASSERT_TRUE(wait_until([&] { return sink.counters() == "sess=1 quit=0 mesg=1"; }))
      << sink.counters();
  const AttemptResult second = attempt();

  EXPECT_EQ(second.outcome, Outcome::delivered) << second.reply;
  EXPECT_EQ(sink.messages().size(), 2u);
}

TEST_F(SmtpTransportTest, StartTlsIsUsedWhenOffered) {
  const uint16_t port = free_tcp_port("127.0.0.1");
  AiosmtpdPeer peer("127.0.0.1", port, R"({"tls": true})");
  dns_.add_a("relay.example.test", "127.0.0.1");
  transport({route(port)});

  const AttemptResult result = attempt();

  EXPECT_EQ(result.outcome, Outcome::delivered) << result.reply;
  EXPECT_THAT(result.fields, Contains(Pair("tls", "TLSv1.3")));
  // The envelope and the content went inside TLS.
  const std::vector<std::string> events = lines(peer.events());
  for (const char* event : {R"("event": "mail")", R"("event": "data")"}) {
    const auto line = std::find_if(events.begin(), events.end(), [&](const std::string& l) {
      return l.find(event) != std::string::npos;
    });
    ASSERT_NE(line, events.end()) << event;
    EXPECT_THAT(*line, HasSubstr(R"("tls": true)"));
  }
}

// RFC 7435 5: opportunistic TLS falls back to clear text; a server whose TLS is broken still
// gets its mail, over a second connection that does not try STARTTLS.
TEST_F(SmtpTransportTest, FailedTlsHandshakeIsRetriedInClearText) {
  const uint16_t port = free_tcp_port("127.0.0.1");
  AiosmtpdPeer peer("127.0.0.1", port, R"({"tls_broken": true})");
  dns_.add_a("relay.example.test", "127.0.0.1");
  transport({route(port)});

  const AttemptResult result = attempt();

  EXPECT_EQ(result.outcome, Outcome::delivered) << result.reply;
  EXPECT_THAT(result.fields, Contains(Pair("tls", "no")));
  const std::vector<std::string> events = lines(peer.events());
  const auto ehlos = std::count_if(events.begin(), events.end(), [](const std::string& l) {
    return l.find(R"("event": "ehlo")") != std::string::npos;
  });
  EXPECT_EQ(ehlos, 2) << peer.events();  // the connection that failed TLS, then the clear one
  const auto mail = std::find_if(events.begin(), events.end(), [](const std::string& l) {
    return l.find(R"("event": "mail")") != std::string::npos;
  });
  ASSERT_NE(mail, events.end()) << peer.events();
  EXPECT_THAT(*mail, HasSubstr(R"("tls": false)"));
}

TEST_F(SmtpTransportTest, MessageLargerThanThePeersSizeIsPermanentAndNotSent) {
  const uint16_t port = free_tcp_port("127.0.0.1");
  AiosmtpdPeer peer("127.0.0.1", port, R"({"size_limit": 100})");
  dns_.add_a("relay.example.test", "127.0.0.1");
  transport({route(port)});

  const AttemptResult result = attempt(std::string(kContent) + std::string(200, 'x') + "\r\n");

  EXPECT_EQ(result.outcome, Outcome::permanent);
  EXPECT_THAT(result.reply, StartsWith("5.3.4"));
  EXPECT_THAT(peer.events(), Not(HasSubstr(R"("event": "mail")")));
}

TEST_F(SmtpTransportTest, EightBitMessageToPeerWithout8BitMimeIsPermanentAndNotSent) {
  const uint16_t port = free_tcp_port("127.0.0.1");
  SmtpSink sink("127.0.0.1", port, {"-8"});
  dns_.add_a("relay.example.test", "127.0.0.1");
  transport({route(port)});

  const AttemptResult result = attempt(std::string(kContent) +
                                           "Gr\xc3\xbc\xc3\x9f"
                                           "e\r\n",
                                       message("8BITMIME"));

  EXPECT_EQ(result.outcome, Outcome::permanent);
  EXPECT_THAT(result.reply, StartsWith("5.6.3"));
  EXPECT_THAT(result.reply, HasSubstr("8BITMIME"));
  EXPECT_TRUE(sink.messages().empty());
}

TEST_F(SmtpTransportTest, ShutdownEndsASlowAttemptAndLaterAttemptsAtOnce) {
  const uint16_t port = free_tcp_port("127.0.0.1");
  AiosmtpdPeer peer("127.0.0.1", port, R"({"data_delay": 120})");
  dns_.add_a("relay.example.test", "127.0.0.1");
  transport({route(port)});

  std::future<AttemptResult> slow = std::async(std::launch::async, [this] { return attempt(); });
  // The peer has the content and sits on its reply.
  ASSERT_TRUE(
      wait_until([&] { return peer.events().find(R"("event": "data")") != std::string::npos; }));
  transport_->shutdown();

  ASSERT_EQ(slow.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  const AttemptResult ended = slow.get();
  EXPECT_EQ(ended.outcome, Outcome::temporary);
  EXPECT_EQ(ended.reply, "4.4.2 herald is shutting down");
  const AttemptResult later = attempt();
  EXPECT_EQ(later.outcome, Outcome::temporary);
  EXPECT_EQ(later.reply, "4.4.2 herald is shutting down");
}

}  // namespace
}  // namespace herald
