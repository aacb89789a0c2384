#include <algorithm>

#include "queue/queue_runner_fixture.h"
#include "support/store_pages.h"

namespace herald {
namespace {

using namespace test_support;
using std::chrono::minutes;
using Outcome = AttemptResult::Outcome;

TEST_F(QueueRunnerTest, DeliveredAttemptIsRecordedWithItsMailbox) {
  FakeTransport transport({Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"alice@example.test"});
  hand_over(runner, deliveries);

  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::delivered, 1));
  EXPECT_EQ(stored(deliveries[0]).last_reply, "2.0.0 delivered to Maildir");
  EXPECT_EQ(transport.content(0), "Subject: test\r\n\r\nhello\r\n");
  const auto ledger = store_->ledger(deliveries[0].message_id);
  ASSERT_EQ(ledger.size(), 2u);
  EXPECT_EQ(ledger[1].type, "delivered");
  EXPECT_EQ(ledger[1].recipient, "alice@example.test");
  EXPECT_EQ(ledger[1].fields.at(0),
            std::make_pair(std::string("mailbox"), std::string("/mail/alice@example.test/new/f")));
  EXPECT_TRUE(test_support::all_unfinished(*store_).empty());
  EXPECT_FALSE(store_->content(deliveries[0].message_id).has_value());
}

TEST_F(QueueRunnerTest, TemporaryFailureIsRetriedAfterTheBackoff) {
  FakeTransport transport({Outcome::temporary, Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"alice@example.test"});
  hand_over(runner, deliveries);

  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 1));
  const Delivery deferred = stored(deliveries[0]);
  EXPECT_GE(deferred.next_attempt, kT0 + minutes(10));
  EXPECT_LE(deferred.next_attempt, kT0 + minutes(11));
  EXPECT_EQ(deferred.last_reply, "4.3.1 mail system full");

  clock_.advance(minutes(9));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // past a worker's re-check
  EXPECT_EQ(transport.calls(), 1u) << "retried before its time";

  clock_.advance(minutes(2));
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::delivered, 2));
  EXPECT_EQ(event_types(deliveries[0].message_id),
            (std::vector<std::string>{"received", "deferred", "delivered"}));
}

TEST_F(QueueRunnerTest, PermanentFailureBounces) {
  FakeTransport transport({Outcome::permanent});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"../evil@example.test"});
  hand_over(runner, deliveries);

  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::bounced, 1));
  const LedgerEvent* bounced = find_event(deliveries[0].message_id, "bounced");
  ASSERT_NE(bounced, nullptr);
  EXPECT_EQ(bounced->fields.at(0).first, "reply");
  EXPECT_TRUE(test_support::all_unfinished(*store_).empty());
}

// A budget bounds attempts: the one that would start after max_age is not made.
TEST_F(QueueRunnerTest, DeliveryExpiresWhenTheRetryBudgetIsSpent) {
  FakeTransport transport({Outcome::temporary});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"alice@example.test"});
  hand_over(runner, deliveries);

  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 1));
  clock_.advance(minutes(11));
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::expired, 2));

  const auto ledger = store_->ledger(deliveries[0].message_id);
  EXPECT_EQ(event_types(deliveries[0].message_id),
            (std::vector<std::string>{"received", "deferred", "expired", "dsn-withheld"}));
  EXPECT_EQ(ledger[2].fields.at(0),
            std::make_pair(std::string("reason"), std::string("retry budget spent (max_age 15m)")));
  EXPECT_TRUE(test_support::all_unfinished(*store_).empty());
  EXPECT_EQ(transport.calls(), 2u);
}

TEST_F(QueueRunnerTest, RestartResumesPendingDeliveries) {
  std::vector<Delivery> deliveries;
  {
    FakeTransport failing({Outcome::temporary});
    QueueRunner runner(*store_, failing, nullptr, clock_, settings());
    runner.start();
    deliveries = commit({"alice@example.test", "bob@example.test"});
    hand_over(runner, deliveries);
    ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 1));
    ASSERT_TRUE(wait_for_state(deliveries[1], DeliveryState::deferred, 1));
  }
  // A new daemon: the store is reopened and nothing is handed over by enqueue().
  store_.reset();
  store_ = open_rocksdb_store(temp_.path() / "store", StoreMode::read_write);
  const auto third = commit({"carol@example.test"});  // committed, never enqueued

  FakeTransport working({Outcome::delivered});
  QueueRunner runner(*store_, working, nullptr, clock_, settings());
  runner.start();
  ASSERT_TRUE(wait_for_state(third[0], DeliveryState::delivered, 1));
  EXPECT_EQ(working.calls(), 1u) << "deferred deliveries wait for their time";

  clock_.advance(minutes(11));
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::delivered, 2));
  ASSERT_TRUE(wait_for_state(deliveries[1], DeliveryState::delivered, 2));
  EXPECT_TRUE(test_support::all_unfinished(*store_).empty());
}

TEST_F(QueueRunnerTest, OneDeliveryIsNeverAttemptedTwiceAtOnce) {
  FakeTransport transport({Outcome::delivered});
  transport.hold();
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  const auto deliveries = commit({"alice@example.test"});
  hand_over(runner, deliveries);  // before start(), which loads it from the store as well
  runner.start();
  hand_over(runner, deliveries);
  ASSERT_TRUE(transport.wait_for_calls(1));
  hand_over(runner, deliveries);  // while it is being attempted
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  transport.release();
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::delivered, 1));
  hand_over(runner, deliveries);  // after it was recorded
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(transport.calls(), 1u);
  EXPECT_EQ(transport.max_running(), 1);
}

TEST_F(QueueRunnerTest, DeliveriesOfManyMessagesRunConcurrently) {
  FakeTransport transport({Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  std::vector<Delivery> all;
  for (int i = 0; i < 20; ++i) {
    const auto deliveries = commit({"a@example.test", "b@example.test", "c@example.test"});
    hand_over(runner, deliveries);
    all.insert(all.end(), deliveries.begin(), deliveries.end());
  }
  for (const auto& d : all) ASSERT_TRUE(wait_for_state(d, DeliveryState::delivered, 1));
  EXPECT_TRUE(test_support::all_unfinished(*store_).empty());
  for (const auto& d : all) EXPECT_FALSE(store_->content(d.message_id).has_value());
}

// Writers into one Maildir contend for its directory in the kernel; other mailboxes go on.
TEST_F(QueueRunnerTest, ConcurrentDeliveriesIntoOneMailboxStayWithinTheLimit) {
  FakeTransport transport({Outcome::delivered});
  transport.hold();
  config_.local_delivery_workers = 8;
  config_.max_deliveries_per_mailbox = 2;
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  std::vector<Delivery> all;
  for (int i = 0; i < 10; ++i) {
    for (const char* mailbox : {"alice@example.test", "bob@example.test"}) {
      const auto deliveries = commit({mailbox});
      hand_over(runner, deliveries);
      all.insert(all.end(), deliveries.begin(), deliveries.end());
    }
  }
  ASSERT_TRUE(transport.wait_for_calls(4));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(transport.calls(), 4u);  // two per mailbox, although eight workers are free
  EXPECT_EQ(transport.max_running(), 4);
  transport.release();
  for (const auto& d : all) ASSERT_TRUE(wait_for_state(d, DeliveryState::delivered, 1));
  EXPECT_EQ(transport.max_running_in_one_mailbox(), 2);
}

TEST_F(QueueRunnerTest, StopLetsTheAttemptInProgressFinishAndRecord) {
  FakeTransport transport({Outcome::delivered});
  transport.hold();
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"alice@example.test"});
  hand_over(runner, deliveries);
  ASSERT_TRUE(transport.wait_for_calls(1));

  std::thread stopper([&] { runner.stop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  transport.release();
  stopper.join();
  EXPECT_EQ(stored(deliveries[0]).state, DeliveryState::delivered);
}

// Issue 8: on a full disk, mail the transport already delivered is not delivered again each
// backoff step; the record is what is tried again.
TEST_F(QueueRunnerTest, StoreErrorWhileRecordingRetriesTheRecordNotTheAttempt) {
  FailingUpdates flaky(*store_, 3);
  FakeTransport transport({Outcome::delivered});
  QueueRunner runner(flaky, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"alice@example.test"});
  hand_over(runner, deliveries);

  ASSERT_TRUE(transport.wait_for_calls(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(stored(deliveries[0]).state, DeliveryState::queued) << "nothing was recorded";
  EXPECT_EQ(test_support::all_unfinished(*store_).size(), 1u);

  for (int i = 0; i < 4 && stored(deliveries[0]).state != DeliveryState::delivered; ++i) {
    clock_.advance(std::chrono::seconds(31));  // past the longest wait between tries
    wait_for_state(deliveries[0], DeliveryState::delivered, 1);
  }
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::delivered, 1));
  EXPECT_EQ(flaky.writes_refused(), 3);
  EXPECT_EQ(transport.calls(), 1u) << "delivered once, recorded after the store recovered";
}

// --- scheduling --------------------------------------------------------------------------

// DESIGN.md section 3: with one slot, the urgent message goes at the next free one, ahead of
// a backlog that came first.
TEST_F(QueueRunnerTest, HigherPriorityGoesFirstThroughABusyDestination) {
  FakeTransport transport({Outcome::delivered});
  transport.hold();
  config_.local_delivery_workers = 1;
  config_.max_deliveries_per_mailbox = 1;
  config_.fair_share_every = 0;
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  MessageRecord low;
  low.qos.priority = -9;
  std::vector<Delivery> all;
  for (int i = 0; i < 5; ++i) {
    const auto d = commit({"alice@example.test"}, low);
    hand_over(runner, d);
    all.push_back(d[0]);
  }
  ASSERT_TRUE(transport.wait_for_calls(1));  // the first low one is under way
  MessageRecord urgent;
  urgent.qos.priority = 9;
  urgent.envelope.mail_from = "urgent@example.org";
  const auto u = commit({"alice@example.test"}, urgent);
  hand_over(runner, u);
  transport.release();
  ASSERT_TRUE(wait_for_state(u[0], DeliveryState::delivered, 1));
  for (const auto& d : all) ASSERT_TRUE(wait_for_state(d, DeliveryState::delivered, 1));
  // Only the one in flight went before the urgent message. (Which low one that was depends
  // on how the hand-overs reached the runner's loop: they are all alike.)
  const auto called = transport.messages_called();
  ASSERT_EQ(called.size(), 6u);
  EXPECT_TRUE(std::any_of(all.begin(), all.end(),
                          [&](const Delivery& d) { return d.message_id == called[0]; }));
  EXPECT_EQ(called[1], u[0].message_id);
}

// A remote server that hangs does not hold up local delivery: each transport has workers.
TEST_F(QueueRunnerTest, ASlowRemoteTransportDoesNotDelayLocalDelivery) {
  FakeTransport local({Outcome::delivered});
  FakeTransport remote({Outcome::delivered});
  remote.hold();
  BlockingTransportPool remote_pool(remote, 2);
  config_.remote_delivery_workers = 2;
  QueueRunner runner(*store_, local, &remote_pool, clock_, settings());
  runner.start();
  const auto out = commit({"far@remote.example"}, {}, {}, "smtp");
  hand_over(runner, out);
  ASSERT_TRUE(remote.wait_for_calls(1));
  const auto in = commit({"alice@example.test"});
  hand_over(runner, in);
  ASSERT_TRUE(wait_for_state(in[0], DeliveryState::delivered, 1));
  // Claimed before it started, where a failure would put it: a crash now reads as one.
  EXPECT_EQ(stored(out[0]).state, DeliveryState::attempting);
  EXPECT_EQ(stored(out[0]).next_attempt, kT0 + minutes(10));
  remote.release();
  ASSERT_TRUE(wait_for_state(out[0], DeliveryState::delivered, 1));
}

// One transaction for the recipients of a message in one domain: the transport is handed
// them together, and each still gets its own outcome.
TEST_F(QueueRunnerTest, RecipientsOfAMessageInOneDomainAreAttemptedTogether) {
  FakeTransport local({Outcome::delivered});
  // Calls: x, then a and b together, then c.
  FakeTransport remote(
      {Outcome::delivered, Outcome::delivered, Outcome::permanent, Outcome::delivered});
  remote.hold();
  BlockingTransportPool remote_pool(remote, 1);
  config_.remote_delivery_workers = 1;
  QueueRunner runner(*store_, local, &remote_pool, clock_, settings());
  runner.start();
  const auto first = commit({"x@remote.example"}, {}, {}, "smtp");
  hand_over(runner, first);
  ASSERT_TRUE(remote.wait_for_calls(1));  // the one worker is busy: the rest gather
  const auto group =
      commit({"a@remote.example", "b@remote.example", "c@other.example"}, {}, {}, "smtp");
  hand_over(runner, group);
  remote.release();
  ASSERT_TRUE(wait_for_state(group[0], DeliveryState::delivered, 1));
  ASSERT_TRUE(wait_for_state(group[1], DeliveryState::bounced, 1));
  ASSERT_TRUE(wait_for_state(group[2], DeliveryState::delivered, 1));
  EXPECT_EQ(remote.group_sizes(), std::vector<size_t>{2}) << "a and b together, c alone";
}

TEST_F(QueueRunnerTest, ADeliveryOfAnUnknownTransportStaysPending) {
  FakeTransport local({Outcome::delivered});
  QueueRunner runner(*store_, local, nullptr, clock_, settings());
  runner.start();
  const auto out = commit({"far@remote.example"}, {}, {}, "smtp");
  hand_over(runner, out);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(local.calls(), 0u);
  EXPECT_EQ(test_support::all_unfinished(*store_).size(), 1u);
}

// RFC 2852 4.1 mode R: a message still undelivered at its deliver-by time is returned.
TEST_F(QueueRunnerTest, DeliverByInModeRExpiresWithA547Dsn) {
  FakeTransport transport({Outcome::temporary, Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  MessageRecord m = from_authenticated_sender();
  m.qos.deliver_by = kT0 + minutes(5);
  m.qos.deliver_by_mode = DeliverByMode::return_if_late;
  const auto deliveries = commit({"alice@example.test"}, m);
  hand_over(runner, deliveries);
  // The retry (10 minutes on) would fall after the deadline: it expires at once.
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::expired, 1));
  const LedgerEvent* sent = find_event(deliveries[0].message_id, "dsn-sent");
  ASSERT_NE(sent, nullptr);
  EXPECT_EQ(field_of(*sent, "action"), "failed");
  EXPECT_EQ(field_of(*sent, "status"), "5.4.7");
  const auto dsn = dsn_deliveries(deliveries[0].message_id);
  ASSERT_EQ(dsn.size(), 1u);
  EXPECT_EQ(dsn[0].mailbox, "sender@example.org");
  ASSERT_TRUE(wait_for_state(dsn[0], DeliveryState::delivered, 1));
  const std::string content = transport.content(1);
  EXPECT_NE(content.find("multipart/report; report-type=delivery-status"), std::string::npos);
  EXPECT_NE(content.find("Status: 5.4.7"), std::string::npos) << content;
  const auto dsn_record = store_->message(dsn[0].message_id);
  EXPECT_EQ(dsn_record->envelope.mail_from, "") << "RFC 5321 4.5.5: DSNs have the null sender";
}

TEST_F(QueueRunnerTest, ADeliveryWhoseHardStopPassedWhileWaitingExpiresWithoutAnAttempt) {
  FakeTransport transport({Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  MessageRecord m;
  m.qos.deliver_by = kT0 + minutes(1);
  m.qos.deliver_by_mode = DeliverByMode::return_if_late;
  auto deliveries = commit({"alice@example.test"}, m);
  clock_.advance(minutes(2));
  runner.start();  // resumed after the deadline, as after a long outage
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::expired, 0));
  EXPECT_EQ(transport.calls(), 0u);
}

// --- operator actions --------------------------------------------------------------------

TEST_F(QueueRunnerTest, HoldKeepsADeliveryFromItsRetryUntilReleased) {
  FakeTransport transport({Outcome::temporary, Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"alice@example.test"});
  hand_over(runner, deliveries);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 1));
  EXPECT_EQ(runner.hold(deliveries[0].message_id), 1u);
  EXPECT_TRUE(stored(deliveries[0]).held);
  clock_.advance(minutes(11));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(transport.calls(), 1u) << "a held delivery was attempted";
  EXPECT_EQ(runner.release(deliveries[0].message_id), 1u);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::delivered, 2));
  EXPECT_EQ(event_types(deliveries[0].message_id),
            (std::vector<std::string>{"received", "deferred", "held", "released", "delivered"}));
}

TEST_F(QueueRunnerTest, AHoldSurvivesARestart) {
  {
    FakeTransport transport({Outcome::temporary});
    QueueRunner runner(*store_, transport, nullptr, clock_, settings());
    runner.start();
    const auto deliveries = commit({"alice@example.test"});
    hand_over(runner, deliveries);
    ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 1));
    ASSERT_EQ(runner.hold(""), 1u);
  }
  FakeTransport transport({Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  clock_.advance(minutes(11));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(transport.calls(), 0u);
  EXPECT_EQ(runner.release(""), 1u);
  ASSERT_TRUE(transport.wait_for_calls(1));
}

TEST_F(QueueRunnerTest, RetryMakesAWaitingDeliveryDueNow) {
  FakeTransport transport({Outcome::temporary, Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"alice@example.test"});
  hand_over(runner, deliveries);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 1));
  EXPECT_EQ(runner.retry(deliveries[0].message_id), 1u);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::delivered, 2));
}

TEST_F(QueueRunnerTest, BounceReturnsEveryPendingDeliveryWithADsn) {
  FakeTransport transport({Outcome::temporary, Outcome::temporary, Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries =
      commit({"alice@example.test", "bob@example.test"}, from_authenticated_sender());
  hand_over(runner, deliveries);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::deferred, 1));
  ASSERT_TRUE(wait_for_state(deliveries[1], DeliveryState::deferred, 1));
  EXPECT_EQ(runner.bounce(deliveries[0].message_id), 2u);
  for (const auto& d : deliveries) {
    EXPECT_EQ(stored(d).state, DeliveryState::bounced);
    EXPECT_EQ(stored(d).last_reply, "5.0.0 returned by the postmaster");
  }
  size_t dsns = 0;
  for (const auto& e : store_->ledger(deliveries[0].message_id)) dsns += e.type == "dsn-sent";
  EXPECT_EQ(dsns, 2u);
  const auto dsn = dsn_deliveries(deliveries[0].message_id);
  ASSERT_EQ(dsn.size(), 1u);
  ASSERT_TRUE(wait_for_state(dsn[0], DeliveryState::delivered, 1));
}

TEST_F(QueueRunnerTest, OperatorActionsOnAnUnknownMessageSayNoSuchMessage) {
  FakeTransport transport({Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const std::string unknown = new_message_id(clock_.now());
  EXPECT_EQ(runner.hold(unknown), std::nullopt);
  EXPECT_EQ(runner.release(unknown), std::nullopt);
  EXPECT_EQ(runner.retry(unknown), std::nullopt);
  EXPECT_EQ(runner.bounce(unknown), std::nullopt);
  const auto deliveries = commit({"alice@example.test"});
  hand_over(runner, deliveries);
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::delivered, 1));
  EXPECT_EQ(runner.bounce(deliveries[0].message_id), 0u) << "a delivered message stays delivered";
}

}  // namespace
}  // namespace herald
