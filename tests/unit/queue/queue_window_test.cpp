// The runner's window onto the store's due index (issue 8: a queue core that does not live
// in memory): what it holds, what it reads back after a restart, claims and batches.
#include <set>

#include "queue/queue_runner_fixture.h"

namespace herald {
namespace {

using namespace test_support;
using std::chrono::minutes;
using Outcome = AttemptResult::Outcome;

TEST_F(QueueRunnerTest, ARestartReadsTheQueueInSlicesAndHoldsNoMoreThanTheWindow) {
  config_.active_limit = 50;
  config_.local_delivery_workers = 1;
  const auto queued = commit_many(600, "alice@example.test");
  FakeTransport transport({Outcome::delivered});
  transport.hold();
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  ASSERT_TRUE(transport.wait_for_calls(1));
  EXPECT_LE(runner.deliveries_in_memory(), 50u) << "600 queued, the window holds 50";
  EXPECT_GE(runner.deliveries_in_memory(), 2u);
  transport.release();
  for (const Delivery& d : queued) ASSERT_TRUE(wait_for_state(d, DeliveryState::delivered, 1));
  EXPECT_EQ(transport.calls(), 600u) << "each exactly once";
}

TEST_F(QueueRunnerTest, NewMailIsTakenInWhileTheWindowIsFullOfABacklog) {
  config_.active_limit = 20;
  config_.local_delivery_workers = 1;
  config_.fair_share_every = 0;
  FakeTransport transport({Outcome::delivered});
  transport.hold();
  MessageRecord low;
  low.qos.priority = -5;
  std::vector<Delivery> backlog;
  for (int i = 0; i < 100; ++i) backlog.push_back(commit({"alice@example.test"}, low).at(0));
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  ASSERT_TRUE(transport.wait_for_calls(1));
  MessageRecord urgent;
  urgent.qos.priority = 9;
  const auto fresh = commit({"alice@example.test"}, urgent);
  hand_over(runner, fresh);
  EXPECT_LE(runner.deliveries_in_memory(), 20u);
  transport.release();
  ASSERT_TRUE(wait_for_state(fresh[0], DeliveryState::delivered, 1));
  for (const Delivery& d : backlog) ASSERT_TRUE(wait_for_state(d, DeliveryState::delivered, 1));
  const auto called = transport.messages_called();
  EXPECT_EQ(called.at(1), fresh[0].message_id) << "the urgent one went at the next free slot";
}

// Issue 8: the due index is read a priority band at a time, highest first, so after a
// restart urgent mail due now is in the first window although a backlog of bulk mail larger
// than the window was due before it.
TEST_F(QueueRunnerTest, ARestartTakesUrgentMailDueLaterBeforeABacklogDueEarlier) {
  config_.active_limit = 10;
  config_.local_delivery_workers = 1;
  config_.fair_share_every = 0;
  const auto bulk = commit_many(100, "alice@example.test");
  clock_.advance(std::chrono::seconds(30));
  MessageRecord urgent;
  urgent.qos.priority = 5;
  std::set<std::string> urgent_ids;
  std::vector<Delivery> urgent_deliveries;
  for (int i = 0; i < 3; ++i) {
    const Delivery d = commit({"oncall@example.test"}, urgent).at(0);
    urgent_ids.insert(d.message_id);
    urgent_deliveries.push_back(d);
  }
  FakeTransport transport({Outcome::delivered});
  transport.hold();
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  ASSERT_TRUE(transport.wait_for_calls(1));
  EXPECT_LE(runner.deliveries_in_memory(), 10u);
  transport.release();
  for (const Delivery& d : urgent_deliveries) {
    ASSERT_TRUE(wait_for_state(d, DeliveryState::delivered, 1));
  }
  for (const Delivery& d : bulk) ASSERT_TRUE(wait_for_state(d, DeliveryState::delivered, 1));
  const auto called = transport.messages_called();
  ASSERT_EQ(called.size(), 103u) << "each exactly once";
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(urgent_ids.contains(called[i])) << "attempt " << i << " was bulk mail";
  }
}

TEST_F(QueueRunnerTest, DeliveriesDueLaterStayInTheStoreUntilTheirTime) {
  config_.active_limit = 10;
  FakeTransport transport({Outcome::temporary, Outcome::delivered});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto first = commit({"alice@example.test"});
  hand_over(runner, first);
  ASSERT_TRUE(wait_for_state(first[0], DeliveryState::deferred, 1));
  EXPECT_EQ(runner.deliveries_in_memory(), 0u) << "due in 10 minutes: only in the store";
  clock_.advance(minutes(11));
  ASSERT_TRUE(wait_for_state(first[0], DeliveryState::delivered, 2));
}

// A crash mid-attempt leaves a claimed delivery (state attempting, next_attempt where a
// failure would have put it). After the restart it is attempted at that time, and the
// ledger says the last attempt was interrupted.
TEST_F(QueueRunnerTest, AnAttemptInterruptedByACrashIsRetriedAtItsClaimAndNoted) {
  auto deliveries = commit({"far@remote.example"}, {}, {}, "smtp");
  Delivery claimed = deliveries[0];
  claimed.state = DeliveryState::attempting;
  claimed.next_attempt = kT0 + minutes(10);
  store_->update_delivery(claimed, std::vector<LedgerEvent>{});

  FakeTransport local({Outcome::delivered});
  FakeTransport remote({Outcome::delivered});
  BlockingTransportPool remote_pool(remote, 1);
  QueueRunner runner(*store_, local, &remote_pool, clock_, settings());
  runner.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(remote.calls(), 0u) << "not re-run at once";
  clock_.advance(minutes(10));
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::delivered, 1));
  EXPECT_EQ(event_types(deliveries[0].message_id),
            (std::vector<std::string>{"received", "interrupted", "delivered"}));
}

// RFC 3464 2.3: one report may carry many recipients. Three mailboxes of one message that
// fail at once get one DSN naming all three, not three DSNs each quoting the message.
TEST_F(QueueRunnerTest, FailuresOfOneMessageDecidedTogetherGoOutAsOneDsn) {
  FakeTransport transport(
      {Outcome::permanent, Outcome::permanent, Outcome::permanent, Outcome::delivered});
  transport.hold();
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"bob@example.test", "carol@example.test", "dave@example.test"},
                                 from_authenticated_sender());
  hand_over(runner, deliveries);
  ASSERT_TRUE(transport.wait_for_calls(3));
  transport.release();
  for (const Delivery& d : deliveries) ASSERT_TRUE(wait_for_state(d, DeliveryState::bounced, 1));
  std::set<std::string> dsn_ids;
  for (const LedgerEvent& e : store_->ledger(deliveries[0].message_id)) {
    if (e.type == "dsn-sent") dsn_ids.insert(field_of(e, "dsn_id"));
  }
  ASSERT_EQ(dsn_ids.size(), 1u);
  const auto dsn = store_->deliveries(*dsn_ids.begin());
  ASSERT_EQ(dsn.size(), 1u);
  ASSERT_TRUE(wait_for_state(dsn[0], DeliveryState::delivered, 1));
  const std::string content = transport.content(3);
  for (const char* rcpt : {"bob@example.test", "carol@example.test", "dave@example.test"}) {
    EXPECT_NE(content.find(std::string("Final-Recipient: rfc822;") + rcpt), std::string::npos)
        << content;
  }
}

// The outcome and the DSN it causes are one write: a store that refuses it leaves neither,
// and when the store takes it, both are there.
TEST_F(QueueRunnerTest, AnOutcomeAndItsDsnAreWrittenTogether) {
  FailingUpdates flaky(*store_, 1);
  FakeTransport transport({Outcome::permanent, Outcome::delivered});
  QueueRunner runner(flaky, transport, nullptr, clock_, settings());
  runner.start();
  const auto deliveries = commit({"bob@example.test"}, from_authenticated_sender());
  hand_over(runner, deliveries);
  ASSERT_TRUE(transport.wait_for_calls(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(event_types(deliveries[0].message_id), (std::vector<std::string>{"received"}));
  clock_.advance(std::chrono::seconds(2));
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::bounced, 1));
  EXPECT_EQ(event_types(deliveries[0].message_id),
            (std::vector<std::string>{"received", "bounced", "dsn-sent"}));
  EXPECT_EQ(dsn_deliveries(deliveries[0].message_id).size(), 1u);
}

TEST_F(QueueRunnerTest, HoldAndReleaseOfEveryMessageWalkTheWholeQueue) {
  config_.active_limit = 10;
  FakeTransport transport({Outcome::temporary});
  QueueRunner runner(*store_, transport, nullptr, clock_, settings());
  const auto queued = commit_many(1500, "alice@example.test");
  EXPECT_EQ(runner.hold(""), 1500u) << "before start: the store is walked in slices";
  runner.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(transport.calls(), 0u);
  EXPECT_EQ(runner.release(""), 1500u);
  for (const Delivery& d : queued) ASSERT_TRUE(wait_for_state(d, DeliveryState::deferred, 1));
}

// Issue 8: urgent mail keeps a reserve in the global outbound limit too, so slow bulk mail
// to many destinations cannot take every attempt.
TEST_F(QueueRunnerTest, UrgentMailKeepsAReserveOfTheOutboundAttempts) {
  FakeTransport local({Outcome::delivered});
  FakeTransport remote({Outcome::delivered});
  remote.hold();
  BlockingTransportPool remote_pool(remote, 4);
  config_.remote_delivery_workers = 3;
  config_.reserved_attempts_for_urgent = 1;
  QueueRunner runner(*store_, local, &remote_pool, clock_, settings());
  runner.start();
  std::vector<Delivery> bulk;
  for (int i = 0; i < 4; ++i) {
    const auto d = commit({"user@bulk" + std::to_string(i) + ".example"}, {}, {}, "smtp");
    hand_over(runner, d);
    bulk.push_back(d[0]);
  }
  ASSERT_TRUE(remote.wait_for_calls(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(remote.calls(), 2u) << "the third attempt is kept for priority > 0";
  MessageRecord urgent;
  urgent.qos.priority = 5;
  const auto u = commit({"oncall@pager.example"}, urgent, {}, "smtp");
  hand_over(runner, u);
  ASSERT_TRUE(remote.wait_for_calls(3));
  EXPECT_EQ(remote.messages_called().at(2), u[0].message_id);
  remote.release();
  for (const Delivery& d : bulk) ASSERT_TRUE(wait_for_state(d, DeliveryState::delivered, 1));
}

// Issue 8: while the disk is short of space, local delivery (which writes Maildir files)
// pauses; it resumes when space returns.
TEST_F(QueueRunnerTest, LocalDeliveryPausesWhileStorageIsLow) {
  std::atomic<bool> storage_low{true};
  FakeTransport transport({Outcome::delivered});
  QueueRunnerSettings s = settings();
  s.storage_low = &storage_low;
  QueueRunner runner(*store_, transport, nullptr, clock_, s);
  runner.start();
  const auto deliveries = commit({"alice@example.test"});
  hand_over(runner, deliveries);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(transport.calls(), 0u);
  storage_low = false;
  ASSERT_TRUE(wait_for_state(deliveries[0], DeliveryState::delivered, 1));
}

}  // namespace
}  // namespace herald
