#include "queue/queue_runner_fixture.h"

namespace herald {
namespace {

using namespace test_support;
using std::chrono::minutes;
using Outcome = AttemptResult::Outcome;

// The DSNs the runner sends (DESIGN.md promise 3, RFC 3461, RFC 3464).

TEST_F(QueueRunnerTest, ABounceSendsOneDsnToAnAuthenticatedSender) {
  FakeTransport transport({Outcome::permanent, Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"bob@example.test"}, from_authenticated_sender());
  hand_over(runner, deliveries);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::bounced, 1));
  EXPECT_EQ(event_types(deliveries[0].message_id),
            (std::vector<std::string>{"received", "bounced", "dsn-sent"}));
  const auto dsn = dsn_deliveries(deliveries[0].message_id);
  ASSERT_EQ(dsn.size(), 1u);
  ASSERT_TRUE(wait_for_state(dsn[0], DeliveryState::delivered, 1));
  const std::string content = transport.content(1);
  EXPECT_NE(content.find("Action: failed"), std::string::npos) << content;
  EXPECT_NE(content.find("Status: 5.1.3"), std::string::npos) << content;
  EXPECT_NE(content.find("Final-Recipient: rfc822;bob@example.test"), std::string::npos);
  // A notification about the notification is never due, whatever happens to it.
  EXPECT_EQ(event_types(dsn[0].message_id),
            (std::vector<std::string>{"received", "queued", "delivered"}));
}

// DESIGN.md promise 3: no backscatter to senders who may be forged.
TEST_F(QueueRunnerTest, ABounceOfAnUnauthenticatedSenderIsRecordedNotMailed) {
  FakeTransport transport({Outcome::permanent});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"bob@example.test"});
  hand_over(runner, deliveries);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::bounced, 1));
  const LedgerEvent* withheld = find_event(deliveries[0].message_id, "dsn-withheld");
  ASSERT_NE(withheld, nullptr);
  EXPECT_EQ(field_of(*withheld, "reason"),
            "sender neither authenticated nor verified (no backscatter)");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(transport.calls(), 1u);
}

// ... but a sender whose domain vouched for the message (SPF or aligned DKIM) is not forged.
TEST_F(QueueRunnerTest, ABounceOfAVerifiedSenderIsMailed) {
  FakeTransport transport({Outcome::permanent, Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  MessageRecord verified;
  verified.envelope.mail_from = "sender@example.org";
  verified.envelope.sender_verified = true;
  const auto deliveries = commit({"bob@example.test"}, verified);
  hand_over(runner, deliveries);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::bounced, 1));
  EXPECT_EQ(find_event(deliveries[0].message_id, "dsn-withheld"), nullptr);
  EXPECT_NE(find_event(deliveries[0].message_id, "dsn-sent"), nullptr);
}

TEST_F(QueueRunnerTest, NotifyNeverMeansNoDsnAndNoNote) {
  FakeTransport transport({Outcome::permanent});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  NotifyRequest never;
  never.given = true;
  const auto deliveries = commit({"bob@example.test"}, from_authenticated_sender(), never);
  hand_over(runner, deliveries);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::bounced, 1));
  EXPECT_EQ(event_types(deliveries[0].message_id),
            (std::vector<std::string>{"received", "bounced"}));
}

TEST_F(QueueRunnerTest, NotifySuccessGetsADeliveredDsn) {
  FakeTransport transport({Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  NotifyRequest success;
  success.given = true;
  success.success = true;
  const auto deliveries = commit({"bob@example.test"}, from_authenticated_sender(), success);
  hand_over(runner, deliveries);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::delivered, 1));
  const LedgerEvent* sent = find_event(deliveries[0].message_id, "dsn-sent");
  ASSERT_NE(sent, nullptr);
  EXPECT_EQ(field_of(*sent, "action"), "delivered");
}

// RFC 3464 "delayed": once the delay warning time has passed, once only.
TEST_F(QueueRunnerTest, ALongDelaySendsOneDelayDsn) {
  FakeTransport transport({Outcome::temporary});
  config_.retry_backoff = {minutes(10)};
  config_.max_age = std::chrono::hours(5);
  config_.delay_warning = minutes(15);
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"bob@example.test"}, from_authenticated_sender());
  hand_over(runner, deliveries);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 1));
  EXPECT_EQ(find_event(deliveries[0].message_id, "dsn-sent"), nullptr);
  clock_.advance(minutes(11));
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 2));
  EXPECT_EQ(find_event(deliveries[0].message_id, "dsn-sent"), nullptr) << "11 minutes: too soon";
  clock_.advance(minutes(11));
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 3));
  const LedgerEvent* sent = find_event(deliveries[0].message_id, "dsn-sent");
  ASSERT_NE(sent, nullptr);
  EXPECT_EQ(field_of(*sent, "action"), "delayed");
  EXPECT_TRUE(stored(deliveries[0]).delay_notified);
  clock_.advance(minutes(11));
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 4));
  size_t sent_count = 0;
  for (const auto& e : store_->ledger(deliveries[0].message_id)) sent_count += e.type == "dsn-sent";
  EXPECT_EQ(sent_count, 1u);
}

// RFC 2852 4 mode N: the sender hears at the deliver-by time, and delivery goes on.
TEST_F(QueueRunnerTest, DeliverByInModeNRetriesAtTheDeadlineAndNotifiesADelay) {
  FakeTransport transport({Outcome::temporary, Outcome::temporary, Outcome::delivered});
  config_.max_age = std::chrono::hours(5);
  config_.delay_warning = std::chrono::seconds(0);
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  MessageRecord m = from_authenticated_sender();
  m.qos.deliver_by = kT0 + minutes(3);
  m.qos.deliver_by_mode = DeliverByMode::notify_if_late;
  const auto deliveries = commit({"bob@example.test"}, m);
  hand_over(runner, deliveries);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 1));
  EXPECT_EQ(stored(deliveries[0]).next_attempt, kT0 + minutes(3)) << "the retry keeps the deadline";
  clock_.advance(minutes(3));
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 2));
  const LedgerEvent* sent = find_event(deliveries[0].message_id, "dsn-sent");
  ASSERT_NE(sent, nullptr);
  EXPECT_EQ(field_of(*sent, "action"), "delayed");
}

}  // namespace
}  // namespace herald
