// The session's side of sender verification ([policy]): when it asks for SPF and for the
// message checks, and what it does with the answers. The checks themselves are
// tests/unit/auth/message_authentication_test.cpp's.
#include <gtest/gtest.h>

#include <string>

#include "smtp/identity_policy.h"
#include "smtp/server_session.h"
#include "support/accepted_text.h"
#include "support/example_config.h"

namespace herald {
namespace {

using Next = SessionStep::Next;

Config test_config() {
  return test_support::example_config(R"(
[[user]]
address = "alice@example.test"
[[alias]]
address = "away@example.test"
to = ["bob@elsewhere.test"]
)");
}

MessageAuthentication dmarc_failure(DmarcPolicy policy) {
  MessageAuthentication auth;
  auth.spf.outcome.result = SpfResult::fail;
  auth.spf.outcome.domain = "bank.test";
  auth.spf.request.mail_from = "ceo@bank.test";
  auth.from_domain = "bank.test";
  auth.dmarc_result = DmarcResult::fail;
  auth.dmarc.policy = policy;
  auth.dmarc.disposition = policy;
  return auth;
}

MessageAuthentication spf_pass() {
  MessageAuthentication auth;
  auth.spf.outcome.result = SpfResult::pass;
  auth.spf.outcome.domain = "client.example";
  auth.spf.request.mail_from = "sender@client.example";
  auth.from_domain = "client.example";
  auth.dmarc_result = DmarcResult::none;
  return auth;
}

class SenderChecksSessionTest : public ::testing::Test {
 protected:
  SenderChecksSessionTest() {
    settings_.hostname = "mx.example.test";
    settings_.limits = config_.limits;
    settings_.postmaster = "postmaster@example.test";
    settings_.verify_senders = true;
    settings_.trusted_networks = {*IpNetwork::parse("198.51.100.0/24")};
  }

  std::unique_ptr<ServerSession> open(const std::string& ip) {
    return std::make_unique<ServerSession>(settings_, directory_, clock_, PeerInfo{ip, 40000});
  }

  static std::string wire(const SessionStep& step) {
    return step.reply ? step.reply->wire() : std::string();
  }

  // EHLO, MAIL (answered with `spf`), RCPT, DATA and the content up to its checks.
  SessionStep through_content(ServerSession& session, SpfResult spf, std::string content,
                              const std::string& recipient = "alice@example.test") {
    session.on_command_line("EHLO client.example");
    const SessionStep mail = session.on_command_line("MAIL FROM:<sender@client.example>");
    EXPECT_EQ(mail.next, Next::check_sender);
    SpfOutcome outcome;
    outcome.result = spf;
    outcome.domain = "client.example";
    EXPECT_EQ(wire(session.on_sender_checked(outcome)), "250 2.1.0 Sender OK\r\n");
    session.on_command_line("RCPT TO:<" + recipient + ">");
    session.on_command_line("DATA");
    content += ".\r\n";
    session.on_data(content);
    return session.on_data_end();
  }

  Config config_ = test_config();
  Directory directory_{config_};
  ManualClock clock_{from_unix_ms(1'704'207'845'000)};
  SessionSettings settings_;
};

TEST_F(SenderChecksSessionTest, MailFromAnInternetClientWaitsForSpf) {
  auto session = open("192.0.2.1");
  session->on_command_line("EHLO client.example");
  const SessionStep step = session->on_command_line("MAIL FROM:<sender@client.example>");
  EXPECT_EQ(step.next, Next::check_sender);
  EXPECT_FALSE(step.reply.has_value());
  const SpfRequest request = session->sender_to_check();
  EXPECT_EQ(request.client_ip, "192.0.2.1");
  EXPECT_EQ(request.mail_from, "sender@client.example");
  EXPECT_EQ(request.helo, "client.example");
  EXPECT_EQ(request.receiver, "mx.example.test");
}

TEST_F(SenderChecksSessionTest, TrustedAndDisabledSessionsAreNotChecked) {
  auto trusted = open("198.51.100.7");
  trusted->on_command_line("EHLO client.example");
  EXPECT_EQ(wire(trusted->on_command_line("MAIL FROM:<a@client.example>")),
            "250 2.1.0 Sender OK\r\n");
  settings_.verify_senders = false;
  auto unchecked = open("192.0.2.1");
  unchecked->on_command_line("EHLO client.example");
  EXPECT_EQ(wire(unchecked->on_command_line("MAIL FROM:<a@client.example>")),
            "250 2.1.0 Sender OK\r\n");
}

TEST_F(SenderChecksSessionTest, SpfFailIsAcceptedByDefaultAndRefusedWhenConfigured) {
  SpfOutcome fail;
  fail.result = SpfResult::fail;
  fail.domain = "client.example";
  fail.explanation = "not\r\nours";
  auto session = open("192.0.2.1");
  session->on_command_line("EHLO client.example");
  session->on_command_line("MAIL FROM:<sender@client.example>");
  EXPECT_EQ(wire(session->on_sender_checked(fail)), "250 2.1.0 Sender OK\r\n");

  settings_.policy.spf_fail = SpfFailAction::reject;
  session = open("192.0.2.1");
  session->on_command_line("EHLO client.example");
  session->on_command_line("MAIL FROM:<sender@client.example>");
  EXPECT_EQ(wire(session->on_sender_checked(fail)),
            "550 5.7.23 SPF check failed for client.example: not  ours\r\n");
  // The transaction is over: RCPT needs a new MAIL.
  EXPECT_EQ(session->on_command_line("RCPT TO:<alice@example.test>").reply->code, 503);
}

TEST_F(SenderChecksSessionTest, SoftfailNeverRefuses) {
  settings_.policy.spf_fail = SpfFailAction::reject;
  SpfOutcome softfail;
  softfail.result = SpfResult::softfail;
  EXPECT_FALSE(spf_refusal(softfail, settings_.policy).has_value());
}

TEST_F(SenderChecksSessionTest, EndOfDataWaitsForTheMessageChecksWithTheSpfResult) {
  auto session = open("192.0.2.1");
  const SessionStep step =
      through_content(*session, SpfResult::pass, "Subject: hi\r\n\r\nbody\r\n");
  EXPECT_EQ(step.next, Next::check_message);
  EXPECT_FALSE(step.reply.has_value());
  EXPECT_EQ(session->spf_check().outcome.result, SpfResult::pass);
  EXPECT_EQ(session->spf_check().request.mail_from, "sender@client.example");
}

TEST_F(SenderChecksSessionTest, DmarcRejectIsRefusedWith550AndTheSessionGoesOn) {
  auto session = open("192.0.2.1");
  through_content(*session, SpfResult::fail, "From: ceo@bank.test\r\n\r\nbody\r\n");
  const SessionStep step = session->on_message_checked(dmarc_failure(DmarcPolicy::reject));
  EXPECT_EQ(step.next, Next::read_command);
  EXPECT_EQ(wire(step),
            "550 5.7.1 Message refused: DMARC policy of bank.test (p=reject): neither SPF nor "
            "DKIM is aligned with the From domain\r\n");
  EXPECT_EQ(session->on_command_line("MAIL FROM:<other@client.example>").next, Next::check_sender);
}

TEST_F(SenderChecksSessionTest, AcceptedMessageCarriesResultsAndAnAuthEvent) {
  auto session = open("192.0.2.1");
  through_content(*session, SpfResult::pass, "Subject: hi\r\n\r\nbody\r\n");
  const SessionStep step = session->on_message_checked(spf_pass());
  EXPECT_EQ(step.next, Next::commit);
  const AcceptedMessage& m = session->message_to_commit();
  EXPECT_EQ(test_support::committed_text(m).rfind("Authentication-Results: mx.example.test;", 0),
            0u)
      << test_support::committed_text(m);
  EXPECT_LT(test_support::committed_text(m).find("\r\nReceived:"),
            test_support::committed_text(m).find("\r\nSubject:"))
      << test_support::committed_text(m);
  EXPECT_EQ(m.record.size, test_support::committed_text(m).size());
  ASSERT_EQ(m.events.size(), 3u);
  EXPECT_EQ(m.events[0].type, "received");
  EXPECT_EQ(m.events[1].type, "auth");
  EXPECT_EQ(m.events[2].type, "queued");
  EXPECT_TRUE(m.record.envelope.sender_verified);
}

TEST_F(SenderChecksSessionTest, QuarantineMarksTheMessageAndTheLedger) {
  for (const auto& [policy, dmarc_reject] :
       {std::pair{DmarcPolicy::quarantine, DmarcRejectAction::reject},
        std::pair{DmarcPolicy::reject, DmarcRejectAction::quarantine}}) {
    settings_.policy.dmarc_reject = dmarc_reject;
    auto session = open("192.0.2.1");
    through_content(*session, SpfResult::fail, "From: ceo@bank.test\r\n\r\nbody\r\n");
    const SessionStep step = session->on_message_checked(dmarc_failure(policy));
    EXPECT_EQ(step.next, Next::commit);
    const AcceptedMessage& m = session->message_to_commit();
    EXPECT_NE(
        test_support::committed_text(m).find("\r\nX-Herald-Quarantine: DMARC policy of bank.test"),
        std::string::npos)
        << test_support::committed_text(m);
    ASSERT_EQ(m.events.size(), 4u);
    EXPECT_EQ(m.events[2].type, "quarantined");
    EXPECT_FALSE(m.record.envelope.sender_verified);
  }
}

TEST_F(SenderChecksSessionTest, ForwardedMailIsSealedAfterItsChecks) {
  settings_.arc_sealing = true;
  auto session = open("192.0.2.1");
  through_content(*session, SpfResult::pass, "Subject: hi\r\n\r\nbody\r\n", "away@example.test");
  MessageAuthentication auth = spf_pass();
  auth.arc.result = ArcChainResult::pass;
  const SessionStep step = session->on_message_checked(auth);
  EXPECT_EQ(step.next, Next::seal_message);
  EXPECT_EQ(session->seal_request().chain, ArcChainResult::pass);
  EXPECT_EQ(session->seal_request().results.rfind("spf=pass", 0), 0u)
      << session->seal_request().results;
  EXPECT_EQ(session->on_message_sealed("ARC-Seal: i=1\r\n").next, Next::commit);
  const AcceptedMessage& m = session->message_to_commit();
  EXPECT_EQ(test_support::committed_text(m).rfind(
                "ARC-Seal: i=1\r\nAuthentication-Results: mx.example.test;", 0),
            0u)
      << test_support::committed_text(m);
  EXPECT_EQ(m.record.size, test_support::committed_text(m).size());
  ASSERT_EQ(m.events[1].type, "auth");
  EXPECT_EQ(m.events[1].fields.back(), (std::pair<std::string, std::string>{"arc_sealed", "yes"}));
}

TEST_F(SenderChecksSessionTest, ARefusedSealLeavesTheMessageUnsealedAndSaysWhy) {
  settings_.arc_sealing = true;
  auto session = open("192.0.2.1");
  through_content(*session, SpfResult::pass, "Subject: hi\r\n\r\nbody\r\n", "away@example.test");
  session->on_message_checked(spf_pass());
  EXPECT_EQ(session->on_seal_refused("the newest seal says cv=fail").next, Next::commit);
  const AcceptedMessage& m = session->message_to_commit();
  EXPECT_EQ(test_support::committed_text(m).find("ARC-Seal"), std::string::npos);
  EXPECT_EQ(m.events[1].fields.back(), (std::pair<std::string, std::string>{
                                           "arc_seal_skipped", "the newest seal says cv=fail"}));
}

TEST_F(SenderChecksSessionTest, OnlyForwardedMailIsSealedAndOnlyWithAKey) {
  settings_.arc_sealing = true;
  auto local = open("192.0.2.1");
  through_content(*local, SpfResult::pass, "Subject: hi\r\n\r\nbody\r\n");
  EXPECT_EQ(local->on_message_checked(spf_pass()).next, Next::commit);
  settings_.arc_sealing = false;
  auto keyless = open("192.0.2.1");
  through_content(*keyless, SpfResult::pass, "Subject: hi\r\n\r\nbody\r\n", "away@example.test");
  EXPECT_EQ(keyless->on_message_checked(spf_pass()).next, Next::commit);
}

TEST_F(SenderChecksSessionTest, ResultsInOurNameThatCameWithTheMessageAreRemoved) {
  settings_.verify_senders = false;
  auto session = open("192.0.2.1");
  session->on_command_line("EHLO client.example");
  session->on_command_line("MAIL FROM:<sender@client.example>");
  session->on_command_line("RCPT TO:<alice@example.test>");
  session->on_command_line("DATA");
  session->on_data(
      "Authentication-Results: MX.example.test; dkim=pass header.d=bank.test\r\n"
      "Authentication-Results: elsewhere.test; spf=pass\r\n\r\nbody\r\n.\r\n");
  EXPECT_EQ(session->on_data_end().next, Next::commit);
  const std::string content = test_support::committed_text(session->message_to_commit());
  EXPECT_EQ(content.find("bank.test"), std::string::npos) << content;
  EXPECT_NE(content.find("Authentication-Results: elsewhere.test; spf=pass"), std::string::npos);
}

}  // namespace
}  // namespace herald
