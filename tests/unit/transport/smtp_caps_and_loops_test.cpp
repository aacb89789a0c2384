// What one attempt may try ([outbound] max_mx_hosts, max_addresses), and mail that would
// come back to herald (RFC 5321 5.1): refused as a loop, 5.4.6, without a connection.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "transport/smtp_peers.h"
#include "transport/smtp_transport_fixture.h"

namespace herald {
namespace {

using test_support::free_tcp_port;
using test_support::ScriptedPeer;
using test_support::SmtpSink;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using Outcome = AttemptResult::Outcome;

class SmtpCapsAndLoopsTest : public SmtpTransportTest {
 protected:
  // Servers on 127.0.0.{first..first+n-1}, one port, each refusing the session in its
  // greeting, so that the attempt moves on to the next address.
  uint16_t refusing_servers(int first, int n) {
    const uint16_t port = free_tcp_port("127.0.0." + std::to_string(first));
    for (int i = 0; i < n; ++i) {
      servers_.push_back(std::make_unique<ScriptedPeer>(
          "127.0.0." + std::to_string(first + i), port, R"({"greeting": "554 5.3.2 not now"})"));
    }
    return port;
  }

  size_t connections() const {
    size_t n = 0;
    for (const auto& server : servers_) n += server->count("connect");
    return n;
  }

  std::vector<std::unique_ptr<ScriptedPeer>> servers_;
};

TEST_F(SmtpCapsAndLoopsTest, AtMostMaxAddressesAreTriedPerAttempt) {
  const uint16_t port = refusing_servers(2, 4);
  for (int i = 0; i < 4; ++i) dns_.add_a("relay.example.test", "127.0.0." + std::to_string(2 + i));
  config_.max_addresses = 2;
  transport({route(port)});

  const AttemptResult result = attempt();

  EXPECT_EQ(result.outcome, Outcome::temporary);
  EXPECT_THAT(result.reply, StartsWith("4.4.1"));
  EXPECT_THAT(result.reply, HasSubstr("(max_addresses 2 tried)"));
  EXPECT_EQ(connections(), 2u);
}

TEST_F(SmtpCapsAndLoopsTest, AtMostMaxMxHostsAreTriedPerAttempt) {
  const uint16_t port = refusing_servers(2, 4);
  for (int i = 0; i < 4; ++i) {
    const std::string host = "mx" + std::to_string(i) + ".example.test";
    dns_.add_mx("example.test", static_cast<uint16_t>(10 * (i + 1)), host);
    dns_.add_a(host, "127.0.0." + std::to_string(2 + i));
  }
  config_.mx_port = port;
  config_.max_mx_hosts = 2;
  transport();

  const AttemptResult result = attempt();

  EXPECT_EQ(result.outcome, Outcome::temporary);
  EXPECT_EQ(connections(), 2u);
  EXPECT_EQ(servers_[0]->count("connect"), 1u);  // the two most preferred
  EXPECT_EQ(servers_[1]->count("connect"), 1u);
}

// A [[route]] that points at herald's own listener: a loop, not a delivery.
TEST_F(SmtpCapsAndLoopsTest, RouteToHeraldsOwnListenerBouncesWith5_4_6WithoutConnecting) {
  const uint16_t port = free_tcp_port("127.0.0.1");
  ScriptedPeer herald_itself("127.0.0.1", port, "{}");
  transport({route_to("example.test", "127.0.0.1", port)}, {"mx.herald.test"},
            {{"127.0.0.1", port}});

  const AttemptResult result = attempt();

  EXPECT_EQ(result.outcome, Outcome::permanent);
  EXPECT_THAT(result.reply, StartsWith("554 5.4.6 mail for example.test would loop back"));
  EXPECT_THAT(result.reply, HasSubstr("127.0.0.1"));
  EXPECT_EQ(herald_itself.count("connect"), 0u);
}

// A listener on 0.0.0.0 takes every local address: an MX record naming any of them (here a
// loopback address other than the listener's) is herald.
TEST_F(SmtpCapsAndLoopsTest, MxAddressOfThisHostOnAWildcardListenersPortIsALoop) {
  const uint16_t port = free_tcp_port("127.0.0.9");
  dns_.add_mx("example.test", 10, "mx.other-name.test");
  dns_.add_a("mx.other-name.test", "127.0.0.9");
  config_.mx_port = port;
  transport({}, {"mx.herald.test"}, {{"0.0.0.0", port}});

  const AttemptResult result = attempt();

  EXPECT_EQ(result.outcome, Outcome::permanent);
  EXPECT_THAT(result.reply, StartsWith("554 5.4.6"));
}

// RFC 5321 5.1: hosts less preferred than herald are dropped, those more preferred stay;
// when they cannot be reached now, the mail waits (temporary), and herald is not tried.
TEST_F(SmtpCapsAndLoopsTest, MoreUsefulMxDownAndHeraldNextIsTemporaryAndHeraldIsNotTried) {
  const uint16_t port = free_tcp_port("127.0.0.1");
  ScriptedPeer herald_itself("127.0.0.1", port, "{}");
  dns_.add_mx("example.test", 10, "mx1.example.test");
  dns_.add_mx("example.test", 20, "mx2.example.test");
  dns_.add_a("mx1.example.test", "127.0.0.2");  // nothing listens there on `port`
  dns_.add_a("mx2.example.test", "127.0.0.1");
  config_.mx_port = port;
  transport({}, {"mx.herald.test"}, {{"127.0.0.1", port}});

  const AttemptResult result = attempt();

  EXPECT_EQ(result.outcome, Outcome::temporary);
  EXPECT_THAT(result.reply, StartsWith("4.4.1"));
  EXPECT_THAT(result.reply, HasSubstr("would loop back"));
  EXPECT_EQ(herald_itself.count("connect"), 0u);
}

// The same address on another port is another server.
TEST_F(SmtpCapsAndLoopsTest, HeraldsAddressOnAnotherPortIsNotALoop) {
  const uint16_t port = free_tcp_port("127.0.0.1");
  SmtpSink sink("127.0.0.1", port);
  transport({route_to("example.test", "127.0.0.1", port)}, {"mx.herald.test"},
            {{"127.0.0.1", static_cast<uint16_t>(port == 65535 ? 1 : port + 1)},
             {"0.0.0.0", static_cast<uint16_t>(port == 1 ? 2 : port - 1)}});

  const AttemptResult result = attempt();

  EXPECT_EQ(result.outcome, Outcome::delivered) << result.reply;
  EXPECT_EQ(sink.messages().size(), 1u);
}

}  // namespace
}  // namespace herald
