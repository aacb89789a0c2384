// The session on a submission listener: AUTH (RFC 4954) and what an authenticated user may
// do. The connection's part (running the password check off the io threads) is played by
// the test: it calls Directory::authenticate and reports the result.
#include <gtest/gtest.h>

#include <string>

#include "directory/password_hash.h"
#include "smtp/server_session.h"
#include "support/accepted_text.h"

namespace herald {
namespace {

using Next = SessionStep::Next;

// "\0alice@example.test\0secret" and with the wrong password "\0alice@example.test\0wrong".
constexpr std::string_view kAlicePlain = "AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=";
constexpr std::string_view kAliceWrongPlain = "AGFsaWNlQGV4YW1wbGUudGVzdAB3cm9uZw==";
constexpr std::string_view kAliceName = "YWxpY2VAZXhhbXBsZS50ZXN0";  // alice@example.test
constexpr std::string_view kSecret = "c2VjcmV0";                     // secret

Config submission_config() {
  const std::string hash = *make_password_hash("secret", PasswordScheme::sha512crypt);
  return parse_config(R"(
[server]
hostname = "mx.example.test"
data_dir = "/tmp/unused"
[[listen]]
protocol = "submission"
address = "127.0.0.1:2587"
[[domain]]
name = "example.test"
[[user]]
address = "alice@example.test"
password_hash = ")" + hash +
                          R"("
[[user]]
address = "bob@example.test"
password_hash = ")" + hash +
                          R"("
[[user]]
address = "carol@example.test"
[[alias]]
address = "team@example.test"
to = ["alice@example.test", "bob@example.test"]
[[alias]]
address = "bob-only@example.test"
to = ["bob@example.test"]
)",
                      "/tmp/test.toml");
}

class SubmissionSessionTest : public ::testing::Test {
 protected:
  SubmissionSessionTest()
      : config_(submission_config()),
        directory_(config_),
        clock_(from_unix_ms(1'704'207'845'000)),
        limiter_(clock_, 3, std::chrono::minutes(15)),
        settings_(make_settings()),
        session_(settings_, directory_, clock_, PeerInfo{"192.0.2.1", 40000}, &limiter_) {}

  SessionSettings make_settings() {
    SessionSettings s;
    s.hostname = "mx.example.test";
    s.listener = "submission";
    s.limits = config_.limits;
    s.postmaster = "postmaster@example.test";
    s.submission = true;
    return s;
  }

  // The reply to one line; a credentials check is carried out as the connection would.
  std::string send(std::string_view line) {
    SessionStep step = session_.on_command_line(line);
    if (step.next == Next::check_credentials) {
      const SaslCredentials& credentials = session_.credentials_to_check();
      step = session_.on_credentials_checked(
          directory_.authenticate(credentials.login, credentials.password));
    }
    return step.reply ? step.reply->wire() : std::string();
  }

  void start_tls_and_greet() {
    session_.on_tls_started(TlsInfo{"TLSv1.3", "TLS_AES_256_GCM_SHA384"});
    send("EHLO client.example");
  }

  void log_in_as_alice() {
    start_tls_and_greet();
    ASSERT_EQ(send("AUTH PLAIN " + std::string(kAlicePlain)),
              "235 2.7.0 Authentication successful\r\n");
  }

  Config config_;
  Directory directory_;
  ManualClock clock_;
  AuthFailureLimiter limiter_;
  SessionSettings settings_;
  ServerSession session_;
};

// --- what is offered when ----------------------------------------------------------------

TEST_F(SubmissionSessionTest, EhloBeforeTlsOffersStarttlsButNotAuth) {
  const std::string reply = send("EHLO client.example");
  EXPECT_NE(reply.find("250 STARTTLS\r\n"), std::string::npos) << reply;
  EXPECT_EQ(reply.find("AUTH"), std::string::npos) << reply;
}

TEST_F(SubmissionSessionTest, EhloAfterTlsOffersAuthPlainLogin) {
  session_.on_tls_started(TlsInfo{"TLSv1.3", "TLS_AES_256_GCM_SHA384"});
  const std::string reply = send("EHLO client.example");
  EXPECT_NE(reply.find("250 AUTH PLAIN LOGIN\r\n"), std::string::npos) << reply;
  EXPECT_EQ(reply.find("STARTTLS"), std::string::npos) << reply;
}

TEST_F(SubmissionSessionTest, AuthBeforeTlsIsRefusedWith538) {
  send("EHLO client.example");
  EXPECT_EQ(send("AUTH PLAIN " + std::string(kAlicePlain)),
            "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
}

TEST_F(SubmissionSessionTest, AuthBeforeEhloIsRefusedWith503) {
  session_.on_tls_started(TlsInfo{"TLSv1.3", "TLS_AES_256_GCM_SHA384"});
  EXPECT_EQ(send("AUTH PLAIN " + std::string(kAlicePlain)),
            "503 5.5.1 Send EHLO or HELO first\r\n");
}

TEST_F(SubmissionSessionTest, MailWithoutAuthIsRefusedWith530) {
  start_tls_and_greet();
  EXPECT_EQ(send("MAIL FROM:<alice@example.test>"), "530 5.7.0 Authentication required\r\n");
}

// --- AUTH PLAIN and LOGIN ----------------------------------------------------------------

TEST_F(SubmissionSessionTest, PlainWithInitialResponseSucceeds) {
  log_in_as_alice();
  EXPECT_EQ(session_.authenticated_as(), "alice@example.test");
}

TEST_F(SubmissionSessionTest, PlainWithContinuationSucceeds) {
  start_tls_and_greet();
  EXPECT_EQ(send("AUTH PLAIN"), "334 \r\n");
  EXPECT_EQ(send(kAlicePlain), "235 2.7.0 Authentication successful\r\n");
}

TEST_F(SubmissionSessionTest, MechanismNamesAreCaseInsensitive) {
  start_tls_and_greet();
  EXPECT_EQ(send("auth plain " + std::string(kAlicePlain)),
            "235 2.7.0 Authentication successful\r\n");
}

TEST_F(SubmissionSessionTest, LoginAsksForNameThenPassword) {
  start_tls_and_greet();
  EXPECT_EQ(send("AUTH LOGIN"), "334 VXNlcm5hbWU6\r\n");
  EXPECT_EQ(send(kAliceName), "334 UGFzc3dvcmQ6\r\n");
  EXPECT_EQ(send(kSecret), "235 2.7.0 Authentication successful\r\n");
  EXPECT_EQ(session_.authenticated_as(), "alice@example.test");
}

TEST_F(SubmissionSessionTest, LoginWithTheNameAsInitialResponseAsksForThePassword) {
  start_tls_and_greet();
  EXPECT_EQ(send("AUTH LOGIN " + std::string(kAliceName)), "334 UGFzc3dvcmQ6\r\n");
  EXPECT_EQ(send(kSecret), "235 2.7.0 Authentication successful\r\n");
}

TEST_F(SubmissionSessionTest, WrongPasswordIsRefusedWith535) {
  start_tls_and_greet();
  EXPECT_EQ(send("AUTH PLAIN " + std::string(kAliceWrongPlain)),
            "535 5.7.8 Authentication credentials invalid\r\n");
  EXPECT_EQ(session_.authenticated_as(), "");
}

TEST_F(SubmissionSessionTest, UserWithoutPasswordHashCannotLogIn) {
  start_tls_and_greet();
  EXPECT_EQ(send("AUTH LOGIN"), "334 VXNlcm5hbWU6\r\n");
  EXPECT_EQ(send("Y2Fyb2xAZXhhbXBsZS50ZXN0"), "334 UGFzc3dvcmQ6\r\n");  // carol@example.test
  EXPECT_EQ(send(""), "535 5.7.8 Authentication credentials invalid\r\n");
}

TEST_F(SubmissionSessionTest, StarCancelsTheExchangeWith501) {
  start_tls_and_greet();
  send("AUTH LOGIN");
  EXPECT_EQ(send("*"), "501 5.7.0 Authentication cancelled\r\n");
  EXPECT_EQ(send("NOOP"), "250 2.0.0 OK\r\n");
}

TEST_F(SubmissionSessionTest, BadBase64IsRefusedWith501_5_5_2) {
  start_tls_and_greet();
  EXPECT_EQ(send("AUTH PLAIN not*base64"), "501 5.5.2 Cannot decode response\r\n");
}

TEST_F(SubmissionSessionTest, PlainForAnotherAuthzidIsRefused) {
  start_tls_and_greet();
  // "bob@example.test\0alice@example.test\0secret"
  EXPECT_EQ(send("AUTH PLAIN Ym9iQGV4YW1wbGUudGVzdABhbGljZUBleGFtcGxlLnRlc3QAc2VjcmV0"),
            "501 5.5.2 Malformed PLAIN response\r\n");
}

TEST_F(SubmissionSessionTest, UnknownMechanismIsRefusedWith504) {
  start_tls_and_greet();
  EXPECT_EQ(send("AUTH CRAM-MD5"), "504 5.5.4 Unrecognized authentication type\r\n");
}

TEST_F(SubmissionSessionTest, SecondAuthIsRefusedWith503) {
  log_in_as_alice();
  EXPECT_EQ(send("AUTH PLAIN " + std::string(kAlicePlain)), "503 5.5.1 Already authenticated\r\n");
}

TEST_F(SubmissionSessionTest, AuthWithinATransactionIsRefusedWith503) {
  log_in_as_alice();
  send("MAIL FROM:<alice@example.test>");
  EXPECT_EQ(send("AUTH PLAIN " + std::string(kAlicePlain)),
            "503 5.5.1 Transaction in progress; send RSET first\r\n");
}

TEST_F(SubmissionSessionTest, FailuresPastTheLimitGet454UntilTheWindowPasses) {
  start_tls_and_greet();
  for (int i = 0; i < 3; ++i) send("AUTH PLAIN " + std::string(kAliceWrongPlain));
  EXPECT_EQ(send("AUTH PLAIN " + std::string(kAlicePlain)),
            "454 4.7.0 Too many failed authentications, try later\r\n");
  clock_.advance(std::chrono::minutes(15));
  EXPECT_EQ(send("AUTH PLAIN " + std::string(kAlicePlain)),
            "235 2.7.0 Authentication successful\r\n");
}

// --- what an authenticated user may do ---------------------------------------------------

TEST_F(SubmissionSessionTest, UserMaySendAsThemselves) {
  log_in_as_alice();
  EXPECT_EQ(send("MAIL FROM:<Alice@Example.TEST>"), "250 2.1.0 Sender OK\r\n");
}

TEST_F(SubmissionSessionTest, UserMaySendAsAnAliasThatIncludesThem) {
  log_in_as_alice();
  EXPECT_EQ(send("MAIL FROM:<team@example.test>"), "250 2.1.0 Sender OK\r\n");
}

TEST_F(SubmissionSessionTest, SenderNotOwnedIsRefusedWith553) {
  log_in_as_alice();
  EXPECT_EQ(send("MAIL FROM:<bob@example.test>"),
            "553 5.7.1 Sender address not owned by <alice@example.test>\r\n");
  EXPECT_EQ(send("MAIL FROM:<bob-only@example.test>"),
            "553 5.7.1 Sender address not owned by <alice@example.test>\r\n");
  EXPECT_EQ(send("MAIL FROM:<alice@elsewhere.example>"),
            "553 5.7.1 Sender address not owned by <alice@example.test>\r\n");
}

TEST_F(SubmissionSessionTest, NullSenderIsRefusedWith553) {
  log_in_as_alice();
  EXPECT_EQ(send("MAIL FROM:<>"), "553 5.7.1 Sender address not owned by <alice@example.test>\r\n");
}

TEST_F(SubmissionSessionTest, AnAuthenticatedUserRelaysThroughTheSmtpTransport) {
  log_in_as_alice();
  send("MAIL FROM:<alice@example.test>");
  EXPECT_EQ(send("RCPT TO:<Someone@Elsewhere.Example>"), "250 2.1.5 Recipient OK\r\n");
  EXPECT_EQ(send("RCPT TO:<bob@example.test>"), "250 2.1.5 Recipient OK\r\n");
  send("DATA");
  const std::string content = "From: alice@example.test\r\nSubject: hi\r\n\r\nhello\r\n.\r\n";
  EXPECT_EQ(session_.on_data(content), content.size());
  ASSERT_EQ(session_.on_data_end().next, Next::commit);
  const AcceptedMessage& message = session_.message_to_commit();
  ASSERT_EQ(message.deliveries.size(), 2u);
  // RFC 5321 2.4: the domain is case-insensitive, the local part is the receiver's business.
  EXPECT_EQ(message.deliveries[0].mailbox, "Someone@elsewhere.example");
  EXPECT_EQ(message.deliveries[0].transport, "smtp");
  EXPECT_EQ(message.deliveries[1].mailbox, "bob@example.test");
  EXPECT_EQ(message.deliveries[1].transport, "local");
}

TEST_F(SubmissionSessionTest, RelayToAnAddressLiteralIsRefusedWith553) {
  log_in_as_alice();
  send("MAIL FROM:<alice@example.test>");
  EXPECT_EQ(send("RCPT TO:<someone@[192.0.2.7]>"),
            "553 5.1.3 <someone@[192.0.2.7]>: relaying to address literals is not supported\r\n");
}

TEST_F(SubmissionSessionTest, AcceptedMessageRecordsTheUserAndEsmtpsa) {
  log_in_as_alice();
  send("MAIL FROM:<alice@example.test>");
  send("RCPT TO:<bob@example.test>");
  send("DATA");
  const std::string content = "From: alice@example.test\r\nSubject: hi\r\n\r\nhello\r\n.\r\n";
  EXPECT_EQ(session_.on_data(content), content.size());
  const SessionStep step = session_.on_data_end();
  ASSERT_EQ(step.next, Next::commit);
  const AcceptedMessage& message = session_.message_to_commit();
  EXPECT_EQ(message.record.envelope.authenticated_as, "alice@example.test");
  EXPECT_EQ(message.record.envelope.protocol, "ESMTPSA");
  EXPECT_NE(test_support::committed_text(message).find("with ESMTPSA"), std::string::npos)
      << test_support::committed_text(message);
}

// --- the header From and Sender ----------------------------------------------------------

class SubmittedHeaderTest : public SubmissionSessionTest {
 protected:
  // The reply to the end of data of a message with `header`, sent by alice as herself.
  std::string submit(std::string_view header) {
    log_in_as_alice();
    send("MAIL FROM:<alice@example.test>");
    send("RCPT TO:<bob@example.test>");
    send("DATA");
    const std::string content = std::string(header) + "\r\nhello\r\n.\r\n";
    EXPECT_EQ(session_.on_data(content), content.size());
    const SessionStep step = session_.on_data_end();
    if (step.next == Next::commit) return "commit";
    return step.reply ? step.reply->wire() : "no reply";
  }
};

TEST_F(SubmittedHeaderTest, HerOwnFromIsAccepted) {
  EXPECT_EQ(submit("From: Alice <Alice@Example.Test>\r\n"), "commit");
}

TEST_F(SubmittedHeaderTest, AnAliasThatIncludesHerIsAccepted) {
  EXPECT_EQ(submit("From: The team <team@example.test>\r\n"), "commit");
}

TEST_F(SubmittedHeaderTest, AnotherUsersFromIsRefusedWith553NamingTheAddress) {
  EXPECT_EQ(submit("From: Bob <bob@example.test>\r\n"),
            "553 5.7.1 Header From address <bob@example.test> is not yours to send as; not "
            "accepted from <alice@example.test>\r\n");
  EXPECT_EQ(send("NOOP"), "250 2.0.0 OK\r\n");  // the session goes on; nothing to commit
}

TEST_F(SubmittedHeaderTest, EveryAuthorInFromMustBeHers) {
  EXPECT_EQ(submit("From: alice@example.test, other@elsewhere.example\r\n"),
            "553 5.7.1 Header From address <other@elsewhere.example> is not yours to send as; "
            "not accepted from <alice@example.test>\r\n");
}

TEST_F(SubmittedHeaderTest, AForeignSenderFieldIsRefused) {
  EXPECT_EQ(submit("From: alice@example.test\r\nSender: bob@example.test\r\n"),
            "553 5.7.1 Header Sender address <bob@example.test> is not yours to send as; not "
            "accepted from <alice@example.test>\r\n");
}

TEST_F(SubmittedHeaderTest, AnAliasThatOnlyReachesAnotherUserIsRefused) {
  EXPECT_EQ(submit("From: bob-only@example.test\r\n"),
            "553 5.7.1 Header From address <bob-only@example.test> is not yours to send as; not "
            "accepted from <alice@example.test>\r\n");
}

TEST_F(SubmittedHeaderTest, AMessageWithoutFromIsRefused) {
  EXPECT_EQ(submit("Subject: anonymous\r\n"),
            "553 5.7.1 Message has no From header field; not accepted from "
            "<alice@example.test>\r\n");
}

TEST_F(SubmittedHeaderTest, TwoFromFieldsAreRefused) {
  EXPECT_EQ(submit("From: alice@example.test\r\nFrom: alice@example.test\r\n"),
            "553 5.7.1 Message must have one From header field with an address; not accepted "
            "from <alice@example.test>\r\n");
}

// --- the MX listener ---------------------------------------------------------------------

TEST(SmtpListenerSession, AuthIsNotImplementedOnTheMxListener) {
  const Config config = submission_config();
  const Directory directory(config);
  const ManualClock clock(from_unix_ms(1'704'207'845'000));
  SessionSettings settings;
  settings.hostname = "mx.example.test";
  settings.limits = config.limits;
  ServerSession session(settings, directory, clock, PeerInfo{"192.0.2.1", 40000});
  session.on_tls_started(TlsInfo{"TLSv1.3", "TLS_AES_256_GCM_SHA384"});
  const SessionStep ehlo = session.on_command_line("EHLO client.example");
  EXPECT_EQ(ehlo.reply->wire().find("AUTH"), std::string::npos);
  EXPECT_EQ(session.on_command_line("AUTH PLAIN " + std::string(kAlicePlain)).reply->wire(),
            "502 5.5.1 Command not implemented\r\n");
  session.on_command_line("MAIL FROM:<a@elsewhere.example>");
  EXPECT_EQ(session.on_command_line("RCPT TO:<b@elsewhere.example>").reply->wire(),
            "554 5.7.1 <b@elsewhere.example>: relaying denied\r\n");
}

TEST(SmtpListenerSession, ATrustedNetworkRelaysWithoutAuthAndKeepsItsPriority) {
  const Config config = submission_config();
  const Directory directory(config);
  const ManualClock clock(from_unix_ms(1'704'207'845'000));
  SessionSettings settings;
  settings.hostname = "mx.example.test";
  settings.limits = config.limits;
  settings.trusted_networks = {*IpNetwork::parse("192.0.2.0/24")};
  ServerSession session(settings, directory, clock, PeerInfo{"192.0.2.1", 40000});
  session.on_command_line("EHLO client.example");
  session.on_command_line("MAIL FROM:<app@client.example> MT-PRIORITY=4");
  EXPECT_EQ(session.on_command_line("RCPT TO:<b@elsewhere.example>").reply->wire(),
            "250 2.1.5 Recipient OK\r\n");
  session.on_command_line("DATA");
  const std::string content = "x\r\n.\r\n";
  session.on_data(content);
  ASSERT_EQ(session.on_data_end().next, SessionStep::Next::commit);
  const AcceptedMessage& m = session.message_to_commit();
  EXPECT_EQ(m.record.qos.priority, 4);
  EXPECT_EQ(m.deliveries.at(0).priority, 4);
  EXPECT_EQ(m.deliveries.at(0).transport, "smtp");
  EXPECT_EQ(m.record.envelope.authenticated_as, "");
}

TEST(SmtpListenerSession, AClientOutsideTheTrustedNetworksMayNotRelay) {
  const Config config = submission_config();
  const Directory directory(config);
  const ManualClock clock(from_unix_ms(1'704'207'845'000));
  SessionSettings settings;
  settings.hostname = "mx.example.test";
  settings.limits = config.limits;
  settings.trusted_networks = {*IpNetwork::parse("192.0.2.0/25")};
  ServerSession session(settings, directory, clock, PeerInfo{"192.0.2.200", 40000});
  session.on_command_line("EHLO client.example");
  session.on_command_line("MAIL FROM:<a@elsewhere.example>");
  EXPECT_EQ(session.on_command_line("RCPT TO:<b@elsewhere.example>").reply->wire(),
            "554 5.7.1 <b@elsewhere.example>: relaying denied\r\n");
}

}  // namespace
}  // namespace herald
