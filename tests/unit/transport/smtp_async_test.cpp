// AsyncTransport: attempts are coroutines, so attempts held by servers that never answer
// cost no thread, and other destinations keep flowing on the same transport meanwhile.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "transport/smtp_peers.h"
#include "transport/smtp_transport_fixture.h"

namespace herald {
namespace {

using test_support::free_tcp_port;
using test_support::ScriptedPeer;
using test_support::SmtpSink;
using test_support::wait_until;
using ::testing::StartsWith;
using Outcome = AttemptResult::Outcome;
using std::chrono::seconds;

class SmtpAsyncTest : public SmtpTransportTest {};

// The fixture runs the transport's io_context on two threads; 200 attempts sit in a tarpit
// (connected, waiting for a greeting that never comes) while a healthy domain's attempt is
// started after them and delivered.
TEST_F(SmtpAsyncTest, TwoHundredAttemptsInATarpitLeaveAHealthyDestinationFlowing) {
  const uint16_t tarpit_port = free_tcp_port("127.0.0.1");
  ScriptedPeer tarpit("127.0.0.1", tarpit_port, R"({"silent_at": "connect"})");
  const uint16_t healthy_port = free_tcp_port("127.0.0.1");
  SmtpSink healthy("127.0.0.1", healthy_port);
  transport({route_to("tarpit.test", "127.0.0.1", tarpit_port),
             route_to("example.test", "127.0.0.1", healthy_port)});
  constexpr size_t kHeld = 200;

  Finished held;
  for (size_t i = 0; i < kHeld; ++i) start(held, delivery("bob@tarpit.test"));
  ASSERT_TRUE(wait_until([&] { return tarpit.count("connect") == kHeld; }, seconds(60)))
      << tarpit.count("connect") << " connections";
  Finished flowing;
  start(flowing, delivery("bob@example.test"));
  ASSERT_TRUE(wait_until([&] { return flowing.count == 1; }, seconds(30)));

  EXPECT_EQ(flowing.results[0][0].outcome, Outcome::delivered) << flowing.results[0][0].reply;
  EXPECT_EQ(healthy.messages().size(), 1u);
  EXPECT_EQ(held.count, 0u);  // all of them still wait for their greeting

  transport_->shutdown();
  ASSERT_TRUE(wait_until([&] { return held.count == kHeld; }, seconds(30))) << held.count;
  for (const std::vector<AttemptResult>& results : held.results) {
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].outcome, Outcome::temporary);
    EXPECT_EQ(results[0].reply, "4.4.2 herald is shutting down");
  }
}

// AsyncTransport's contract: done exactly once per start(), even when the transport goes
// while the attempt still waits.
TEST_F(SmtpAsyncTest, AttemptStillRunningWhenTheTransportIsDestroyedGetsItsDoneOnce) {
  const uint16_t port = free_tcp_port("127.0.0.1");
  ScriptedPeer tarpit("127.0.0.1", port, R"({"silent_at": "connect"})");
  transport({route_to("tarpit.test", "127.0.0.1", port)});
  Finished finished;
  start(finished, delivery("bob@tarpit.test"));
  ASSERT_TRUE(wait_until([&] { return tarpit.count("connect") == 1; }));

  transport_.reset();

  ASSERT_TRUE(wait_until([&] { return finished.count >= 1; }));
  // The attempt's own end (shutdown cancelled it) runs on io as well and finds its done
  // already taken.
  io_.poll();
  EXPECT_EQ(finished.count, 1u);
  EXPECT_THAT(finished.results[0][0].reply, StartsWith("4.4.2 herald is shutting down"));
}

// Several deliveries in one request: one result each, in their order.
TEST_F(SmtpAsyncTest, OneResultPerDeliveryInTheirOrder) {
  const uint16_t port = free_tcp_port("127.0.0.1");
  SmtpSink sink("127.0.0.1", port, {"-f", "RCPT"});  // refuses every RCPT with a 5xx
  transport({route_to("example.test", "127.0.0.1", port)});
  Finished finished;
  transport_->start(
      AttemptRequest{message(),
                     {delivery("bob@example.test"), delivery("carol@example.test")},
                     std::make_shared<const MessageContent>(MessageContent::from_text(kContent))},
      [&finished](std::vector<AttemptResult> results) {
        const std::lock_guard lock(finished.mutex);
        finished.results.push_back(std::move(results));
        ++finished.count;
      });
  ASSERT_TRUE(wait_until([&] { return finished.count == 1; }));

  ASSERT_EQ(finished.results[0].size(), 2u);
  EXPECT_EQ(finished.results[0][0].outcome, Outcome::permanent);
  EXPECT_EQ(finished.results[0][1].outcome, Outcome::permanent);
}

}  // namespace
}  // namespace herald
