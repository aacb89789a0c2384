// The SMTP transport sends a message's body as the store gives it, a piece at a time: what
// the peer receives is the whole message, and a piece that cannot be read never ends the
// data (the peer would take a cut message).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "support/pieced_body.h"
#include "transport/smtp_peers.h"
#include "transport/smtp_transport_fixture.h"

namespace herald {
namespace {

using test_support::AiosmtpdPeer;
using test_support::free_tcp_port;
using test_support::pieced_content;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using Outcome = AttemptResult::Outcome;

constexpr const char* kHeader =
    "From: <alice@sender.test>\r\n"
    "To: <bob@example.test>\r\n"
    "Subject: in pieces\r\n"
    "\r\n";

// The body cut so that a "." line begins one piece and a CRLF is split between two more.
const std::string kBody =
    "first line\r\n"
    ".a dot line at the start of a piece\r\n"
    "a line whose CRLF is split\r"
    "\n.a dot line after the split\r\n";
const std::vector<size_t> kCuts = {12, 49, 76};

TEST_F(SmtpTransportTest, ABodyInPiecesArrivesWholeWithItsDotLinesIntact) {
  ASSERT_EQ(kBody.substr(12, 1), ".");
  ASSERT_EQ(kBody.substr(75, 2), "\r\n");
  const uint16_t port = free_tcp_port("127.0.0.1");
  AiosmtpdPeer peer("127.0.0.1", port, "{}");
  dns_.add_a("relay.example.test", "127.0.0.1");
  transport({route(port)});
  const auto pieced = pieced_content(kHeader, kBody, kCuts);

  const AttemptResult result = attempt(pieced.content);

  EXPECT_EQ(result.outcome, Outcome::delivered) << result.reply;
  // aiosmtpd undoes the dot-stuffing; its events are JSON, where CRLF reads \r\n.
  EXPECT_THAT(peer.events(),
              HasSubstr(R"(Subject: in pieces\r\n\r\nfirst line\r\n.a dot line at the start of )"
                        R"(a piece\r\na line whose CRLF is split\r\n.a dot line after the )"
                        R"(split\r\n")"));
  EXPECT_EQ(pieced.body->reads(), 4u);  // each piece once
}

TEST_F(SmtpTransportTest, ABodyPieceThatCannotBeReadIsATemporaryFailureAndNothingIsTaken) {
  const uint16_t port = free_tcp_port("127.0.0.1");
  AiosmtpdPeer peer("127.0.0.1", port, "{}");
  dns_.add_a("relay.example.test", "127.0.0.1");
  transport({route(port)});
  const auto pieced = pieced_content(kHeader, kBody, kCuts);
  pieced.body->fail_at(2);

  const AttemptResult result = attempt(pieced.content);

  EXPECT_EQ(result.outcome, Outcome::temporary);
  EXPECT_THAT(result.reply, StartsWith("4.3.0 reading the message from the store failed"));
  EXPECT_THAT(result.reply, HasSubstr("piece 2 lost"));
  EXPECT_THAT(peer.events(), HasSubstr(R"("event": "rcpt")"));
  EXPECT_THAT(peer.events(), Not(HasSubstr(R"("event": "data")")));
  EXPECT_EQ(pieced.body->reads(), 3u);  // nothing past the piece that failed
}

}  // namespace
}  // namespace herald
