// Every wait of an outbound attempt ends (RFC 5321 4.5.3.2), and so does the attempt as a
// whole ([outbound] attempt_timeout): against real peers on loopback that greet late, answer
// an octet at a time, stop replying or stop reading. Timeouts are a second or two here; the
// tests assert what the attempt came to and why, never how long it took.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "transport/smtp_peers.h"
#include "transport/smtp_transport_fixture.h"

namespace herald {
namespace {

using test_support::AiosmtpdPeer;
using test_support::free_tcp_port;
using test_support::ScriptedPeer;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using Outcome = AttemptResult::Outcome;
using std::chrono::seconds;

std::string remote(uint16_t port) {
  return "relay.example.test[127.0.0.1]:" + std::to_string(port);
}

class SmtpDeadlineTest : public SmtpTransportTest {
 protected:
  // example.test goes to a peer on 127.0.0.1 that behaves as `settings` says.
  uint16_t peer(const std::string& settings) {
    const uint16_t port = free_tcp_port("127.0.0.1");
    peer_ = std::make_unique<ScriptedPeer>("127.0.0.1", port, settings);
    dns_.add_a("relay.example.test", "127.0.0.1");
    transport({route(port)});
    return port;
  }
  std::unique_ptr<ScriptedPeer> peer_;
};

TEST_F(SmtpDeadlineTest, ServerThatAcceptsAndNeverGreetsEndsTemporaryAtTheGreetingTimeout) {
  config_.greeting_timeout = seconds(1);
  const uint16_t port = peer(R"({"silent_at": "connect"})");

  const AttemptResult result = attempt();

  EXPECT_EQ(result.outcome, Outcome::temporary);
  EXPECT_THAT(result.reply, StartsWith("4.4.1 no mail host of example.test could be reached"));
  EXPECT_THAT(result.reply, HasSubstr("4.4.2 timeout after 1s (greeting_timeout) waiting for "
                                      "the greeting from " +
                                      remote(port)));
}

// The deadline runs per reply, not per read: octets that keep coming do not extend it.
TEST_F(SmtpDeadlineTest, ReplySentOneOctetAtATimeStillEndsAtItsTimeout) {
  config_.command_timeout = seconds(1);
  const uint16_t port = peer(R"({"trickle_at": "EHLO", "trickle_interval": 0.1})");

  const AttemptResult result = attempt();

  EXPECT_EQ(result.outcome, Outcome::temporary);
  EXPECT_THAT(result.reply, HasSubstr("4.4.2 timeout after 1s (command_timeout) waiting for a "
                                      "reply from " +
                                      remote(port)));
  EXPECT_EQ(peer_->count("connect"), 1u);
}

// Whatever each wait allows, the attempt ends at attempt_timeout.
TEST_F(SmtpDeadlineTest, TricklingServerIsCutOffAtTheWholeAttemptDeadline) {
  config_.attempt_timeout = seconds(2);  // every per-wait timeout stays at its minutes
  const uint16_t port = peer(R"({"trickle_at": "EHLO", "trickle_interval": 0.1})");

  const AttemptResult result = attempt();

  EXPECT_EQ(result.outcome, Outcome::temporary);
  EXPECT_THAT(result.reply, HasSubstr("4.4.2 attempt deadline passed (attempt_timeout 2s) "
                                      "waiting for a reply from " +
                                      remote(port)));
}

// A server that goes quiet once the transaction has begun: the reply is the recipient's.
class SilentAtVerbTest
    : public SmtpDeadlineTest,
      public ::testing::WithParamInterface<std::tuple<const char*, const char*, const char*>> {};

TEST_P(SilentAtVerbTest, EndsTemporaryAtThatVerbsTimeout) {
  const auto [verb, key, awaited] = GetParam();
  config_.mail_timeout = config_.rcpt_timeout = config_.data_init_timeout = seconds(1);
  const uint16_t port = peer(std::string(R"({"silent_at": ")") + verb + "\"}");

  const AttemptResult result = attempt();

  EXPECT_EQ(result.outcome, Outcome::temporary);
  EXPECT_EQ(result.reply, std::string("4.4.2 timeout after 1s (") + key + ") waiting for " +
                              awaited + " from " + remote(port));
  EXPECT_THAT(result.fields, ::testing::Contains(::testing::Pair("remote", remote(port))));
}

INSTANTIATE_TEST_SUITE_P(
    Rfc5321_4_5_3_2, SilentAtVerbTest,
    ::testing::Values(std::make_tuple("MAIL", "mail_timeout", "the reply to MAIL"),
                      std::make_tuple("RCPT", "rcpt_timeout", "the reply to RCPT"),
                      std::make_tuple("DATA", "data_init_timeout", "the reply to DATA")));

// RFC 5321 4.5.3.2.5: each block of content written has its own deadline.
TEST_F(SmtpDeadlineTest, ServerThatStopsReadingMidContentEndsAtTheDataBlockTimeout) {
  config_.data_block_timeout = seconds(1);
  const uint16_t port = peer(R"({"stall_content": true})");
  // More than any socket buffers on the way hold, so that a write has to wait.
  std::string content = kContent;
  for (int i = 0; i < 16 * 1024; ++i) content += std::string(1022, 'x') + "\r\n";

  const AttemptResult result = attempt(content);

  EXPECT_EQ(result.outcome, Outcome::temporary);
  EXPECT_EQ(result.reply,
            "4.4.2 timeout after 1s (data_block_timeout) sending the content to " + remote(port));
  EXPECT_EQ(peer_->count("stalled"), 1u);
}

TEST_F(SmtpDeadlineTest, ServerSittingOnTheEndOfDataEndsAtTheDataTimeout) {
  config_.data_timeout = seconds(1);
  const uint16_t port = free_tcp_port("127.0.0.1");
  AiosmtpdPeer slow("127.0.0.1", port, R"({"data_delay": 120})");
  dns_.add_a("relay.example.test", "127.0.0.1");
  transport({route(port)});

  const AttemptResult result = attempt();

  EXPECT_EQ(result.outcome, Outcome::temporary);
  EXPECT_EQ(result.reply,
            "4.4.2 timeout after 1s (data_timeout) waiting for the reply to the end of data "
            "from " +
                remote(port));
}

}  // namespace
}  // namespace herald
