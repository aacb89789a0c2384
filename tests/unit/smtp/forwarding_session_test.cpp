// RCPT to an alias that forwards to remote addresses, and to the SRS addresses bounces of
// forwarded copies come back to (auth/srs.h), as the SMTP session sees them.
#include <gtest/gtest.h>

#include <string>

#include "smtp/server_session.h"
#include "support/example_config.h"

namespace herald {
namespace {

using Next = SessionStep::Next;
constexpr auto kDay = std::chrono::hours(24);

Config forwarding_config() {
  return test_support::example_config(R"(
[[user]]
address = "alice@example.test"
[[alias]]
address = "away@example.test"
to = ["alice.private@elsewhere.test"]
[[alias]]
address = "both@example.test"
to = ["alice@example.test", "away@example.test"]
)");
}

// A client from the internet: neither authenticated nor in trusted_networks.
class ForwardingSessionTest : public ::testing::Test {
 protected:
  ForwardingSessionTest()
      : config_(forwarding_config()),
        directory_(config_),
        clock_(from_unix_ms(1'795'953'600'000)),
        srs_("mx.example.test", "s3cret", {}, 21 * kDay),
        settings_(make_settings()),
        session_(settings_, directory_, clock_, PeerInfo{"192.0.2.1", 40000}) {}

  SessionSettings make_settings() {
    SessionSettings s;
    s.hostname = "mx.example.test";
    s.limits = config_.limits;
    s.postmaster = "alice@example.test";
    s.srs = &srs_;
    return s;
  }

  std::string send(std::string_view line) {
    last_ = session_.on_command_line(line);
    return last_.reply ? last_.reply->wire() : std::string();
  }

  // EHLO and MAIL FROM:<sender>, then the reply to RCPT TO:<recipient>.
  std::string rcpt_from(const std::string& sender, const std::string& recipient) {
    send("EHLO client.example");
    EXPECT_EQ(send("MAIL FROM:<" + sender + ">"), "250 2.1.0 Sender OK\r\n");
    return send("RCPT TO:<" + recipient + ">");
  }

  // The message as the session hands it to the commit.
  const AcceptedMessage& accept(std::string_view wire = "Subject: hi\r\n\r\nbody\r\n.\r\n") {
    EXPECT_EQ(send("DATA"), "354 End data with <CR><LF>.<CR><LF>\r\n");
    session_.on_data(wire);
    last_ = session_.on_data_end();
    EXPECT_EQ(last_.next, Next::commit);
    return session_.message_to_commit();
  }

  static std::string field(const LedgerEvent& e, const std::string& key) {
    for (const auto& [k, v] : e.fields) {
      if (k == key) return v;
    }
    return "(absent)";
  }

  Config config_;
  Directory directory_;
  ManualClock clock_;
  SenderRewriting srs_;
  SessionSettings settings_;
  ServerSession session_;
  SessionStep last_;
};

TEST_F(ForwardingSessionTest, RcptToAForwardingAliasFromAnUntrustedClientIsAccepted) {
  EXPECT_EQ(rcpt_from("someone@sender.test", "Away@Example.Test"), "250 2.1.5 Recipient OK\r\n");
  const AcceptedMessage& m = accept();
  ASSERT_EQ(m.deliveries.size(), 1u);
  const Delivery& d = m.deliveries[0];
  EXPECT_EQ(d.recipient, "Away@Example.Test");
  EXPECT_EQ(d.mailbox, "alice.private@elsewhere.test");
  EXPECT_EQ(d.transport, "smtp");
  EXPECT_EQ(d.envelope_sender, srs_.forward("someone@sender.test", clock_.now()).return_path);
  EXPECT_EQ(d.envelope_sender.substr(0, 5), "SRS0=");
  EXPECT_EQ(m.record.envelope.mail_from, "someone@sender.test") << "the message keeps its sender";

  ASSERT_EQ(m.events.size(), 2u);
  const LedgerEvent& queued = m.events[1];
  EXPECT_EQ(queued.type, "queued");
  EXPECT_EQ(field(queued, "relay_to"), "alice.private@elsewhere.test");
  EXPECT_EQ(field(queued, "forwarded_by"), "away@example.test");
  EXPECT_EQ(field(queued, "return_path"), d.envelope_sender);
}

TEST_F(ForwardingSessionTest, AliasToALocalUserAndAForwardGivesOneOfEach) {
  EXPECT_EQ(rcpt_from("someone@sender.test", "both@example.test"), "250 2.1.5 Recipient OK\r\n");
  const AcceptedMessage& m = accept();
  ASSERT_EQ(m.deliveries.size(), 2u);
  EXPECT_EQ(m.deliveries[0].mailbox, "alice@example.test");
  EXPECT_EQ(m.deliveries[0].transport, "local");
  EXPECT_EQ(m.deliveries[0].envelope_sender, "");
  EXPECT_EQ(field(m.events[1], "forwarded_by"), "(absent)");
  EXPECT_EQ(m.deliveries[1].mailbox, "alice.private@elsewhere.test");
  EXPECT_EQ(m.deliveries[1].transport, "smtp");
  EXPECT_EQ(field(m.events[2], "forwarded_by"), "both@example.test");
}

TEST_F(ForwardingSessionTest, ForwardedBounceKeepsTheNullReversePath) {
  EXPECT_EQ(rcpt_from("", "away@example.test"), "250 2.1.5 Recipient OK\r\n");
  const AcceptedMessage& m = accept();
  ASSERT_EQ(m.deliveries.size(), 1u);
  EXPECT_EQ(m.deliveries[0].envelope_sender, "");
  EXPECT_EQ(field(m.events[1], "return_path"), "");
  EXPECT_EQ(field(m.events[1], "srs_skipped"), "(absent)");
}

TEST_F(ForwardingSessionTest, SenderTooLongForSrsIsForwardedUnchangedAndTheLedgerSaysWhy) {
  const std::string sender = std::string(60, 'x') + "@sender.test";
  EXPECT_EQ(rcpt_from(sender, "away@example.test"), "250 2.1.5 Recipient OK\r\n");
  const AcceptedMessage& m = accept();
  EXPECT_EQ(m.deliveries.at(0).envelope_sender, "");
  EXPECT_EQ(field(m.events[1], "return_path"), sender);
  EXPECT_NE(field(m.events[1], "srs_skipped").find("64"), std::string::npos);
}

TEST_F(ForwardingSessionTest, BounceToOurSrsAddressGoesBackToTheOriginalSender) {
  const std::string srs_address = srs_.forward("someone@sender.test", clock_.now()).return_path;
  clock_.advance(3 * kDay);
  EXPECT_EQ(rcpt_from("", srs_address), "250 2.1.5 Recipient OK\r\n");
  const AcceptedMessage& m = accept();
  ASSERT_EQ(m.deliveries.size(), 1u);
  EXPECT_EQ(m.deliveries[0].recipient, srs_address);
  EXPECT_EQ(m.deliveries[0].mailbox, "someone@sender.test");
  EXPECT_EQ(m.deliveries[0].transport, "smtp");
  EXPECT_EQ(m.deliveries[0].envelope_sender, "") << "no second SRS rewrite";
  EXPECT_EQ(field(m.events[1], "forwarded_by"), "(absent)");
}

TEST_F(ForwardingSessionTest, BounceToAnSrsAddressOfALocalSenderIsDeliveredLocally) {
  const std::string srs_address = srs_.forward("alice@example.test", clock_.now()).return_path;
  EXPECT_EQ(rcpt_from("", srs_address), "250 2.1.5 Recipient OK\r\n");
  const AcceptedMessage& m = accept();
  ASSERT_EQ(m.deliveries.size(), 1u);
  EXPECT_EQ(m.deliveries[0].mailbox, "alice@example.test");
  EXPECT_EQ(m.deliveries[0].transport, "local");
}

TEST_F(ForwardingSessionTest, ForgedSrsAddressIsRefusedWith550_5_1_1) {
  EXPECT_EQ(rcpt_from("", "SRS0=AAAA=JS=victim.test=someone@mx.example.test"),
            "550 5.1.1 <SRS0=AAAA=JS=victim.test=someone@mx.example.test>: not an SRS address "
            "this server signed\r\n");
}

TEST_F(ForwardingSessionTest, ExpiredSrsAddressIsRefusedWith550_5_1_1) {
  const std::string srs_address = srs_.forward("someone@sender.test", clock_.now()).return_path;
  clock_.advance(30 * kDay);
  EXPECT_EQ(
      rcpt_from("", srs_address),
      "550 5.1.1 <" + srs_address + ">: this SRS address has expired; no bounce is returned\r\n");
}

TEST_F(ForwardingSessionTest, AnSrsAddressTakesOnlyTheNullSender) {
  const std::string srs_address = srs_.forward("someone@sender.test", clock_.now()).return_path;
  EXPECT_EQ(
      rcpt_from("spammer@elsewhere.test", srs_address),
      "550 5.7.1 <" + srs_address + ">: an SRS address takes only bounces (MAIL FROM:<>)\r\n");
}

TEST_F(ForwardingSessionTest, BadSrsHashesPastTheLimitGet450UntilTheWindowPasses) {
  AuthFailureLimiter failures(clock_, 2, std::chrono::minutes(15));
  settings_.srs_failures = &failures;
  const std::string good = srs_.forward("someone@sender.test", clock_.now()).return_path;
  const std::string forged = "SRS0=AAAAAAAA=JS=victim.test=someone@mx.example.test";
  EXPECT_EQ(rcpt_from("", forged).substr(0, 9), "550 5.1.1");
  EXPECT_EQ(send("RCPT TO:<" + forged + ">").substr(0, 9), "550 5.1.1");
  // Now even a valid one waits: the client was searching.
  EXPECT_EQ(send("RCPT TO:<" + good + ">"),
            "450 4.7.1 Too many invalid SRS addresses, try later\r\n");
  clock_.advance(std::chrono::minutes(16));
  EXPECT_EQ(send("RCPT TO:<" + good + ">"), "250 2.1.5 Recipient OK\r\n");
}

TEST_F(ForwardingSessionTest, OtherRemoteRecipientsAreStillRefusedAsRelaying) {
  EXPECT_EQ(rcpt_from("someone@sender.test", "alice.private@elsewhere.test"),
            "554 5.7.1 <alice.private@elsewhere.test>: relaying denied\r\n");
}

}  // namespace
}  // namespace herald
