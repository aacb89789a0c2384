// BlockingTransportPool: a blocking Transport started as an AsyncTransport, each attempt on
// one of the pool's threads, `done` exactly once.
#include "queue/blocking_transport_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace herald {
namespace {

// Attempts that block until released, or throw, or answer for the wrong number.
class ScriptedTransport final : public Transport {
 public:
  enum class Mode { answer, throw_error, answer_short };
  explicit ScriptedTransport(Mode mode) : mode_(mode) {}

  AttemptResult attempt(const MessageRecord&, const Delivery&,
                        const MessageContent& content) override {
    std::unique_lock lock(mutex_);
    ++running_;
    max_running_ = std::max(max_running_, running_);
    changed_.notify_all();
    changed_.wait(lock, [&] { return released_; });
    --running_;
    if (mode_ == Mode::throw_error) throw std::runtime_error("disk on fire");
    AttemptResult r;
    r.outcome = AttemptResult::Outcome::delivered;
    r.reply = "2.0.0 " + content.to_text();
    return r;
  }
  std::vector<AttemptResult> attempt_together(const MessageRecord& m,
                                              const std::vector<Delivery>& deliveries,
                                              const MessageContent& content) override {
    std::vector<AttemptResult> results = Transport::attempt_together(m, deliveries, content);
    if (mode_ == Mode::answer_short) results.pop_back();
    return results;
  }
  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }
  bool wait_for_running(int n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return running_ >= n; });
  }
  int max_running() {
    std::lock_guard lock(mutex_);
    return max_running_;
  }

 private:
  Mode mode_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool released_ = false;
  int running_ = 0;
  int max_running_ = 0;
};

AttemptRequest request_for(size_t deliveries) {
  AttemptRequest request;
  request.message.id = "01HF7YAT00ABCDEFGHJKMNPQRS";
  for (size_t i = 0; i < deliveries; ++i) {
    Delivery d;
    d.message_id = request.message.id;
    d.index = static_cast<uint32_t>(i);
    request.deliveries.push_back(d);
  }
  request.content = std::make_shared<const MessageContent>(MessageContent::from_text("hello"));
  return request;
}

// Collects every `done` call.
struct Results {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::vector<AttemptResult>> calls;

  AttemptDone done() {
    return [this](std::vector<AttemptResult> results) {
      std::lock_guard lock(mutex);
      calls.push_back(std::move(results));
      changed.notify_all();
    };
  }
  bool wait_for(size_t n) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(10), [&] { return calls.size() >= n; });
  }
};

TEST(BlockingTransportPool, RunsAsManyAttemptsAtOnceAsItHasThreadsAndAnswersEachOnce) {
  ScriptedTransport transport(ScriptedTransport::Mode::answer);
  Results results;
  {
    BlockingTransportPool pool(transport, 3);
    for (int i = 0; i < 7; ++i) pool.start(request_for(1), results.done());
    ASSERT_TRUE(transport.wait_for_running(3));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(transport.max_running(), 3);
    transport.release();
    ASSERT_TRUE(results.wait_for(7));
  }
  ASSERT_EQ(results.calls.size(), 7u) << "each start gets its done once";
  for (const auto& call : results.calls) {
    ASSERT_EQ(call.size(), 1u);
    EXPECT_EQ(call[0].reply, "2.0.0 hello");
  }
}

TEST(BlockingTransportPool, AThrowingTransportIsATemporaryFailureOfEachDelivery) {
  ScriptedTransport transport(ScriptedTransport::Mode::throw_error);
  transport.release();
  Results results;
  BlockingTransportPool pool(transport, 1);
  pool.start(request_for(2), results.done());
  ASSERT_TRUE(results.wait_for(1));
  ASSERT_EQ(results.calls[0].size(), 2u);
  for (const AttemptResult& r : results.calls[0]) {
    EXPECT_EQ(r.outcome, AttemptResult::Outcome::temporary);
    EXPECT_EQ(r.reply, "4.3.0 delivery failed: disk on fire");
  }
}

TEST(BlockingTransportPool, AnAnswerForTheWrongNumberOfDeliveriesIsATemporaryFailure) {
  ScriptedTransport transport(ScriptedTransport::Mode::answer_short);
  transport.release();
  Results results;
  BlockingTransportPool pool(transport, 1);
  pool.start(request_for(3), results.done());
  ASSERT_TRUE(results.wait_for(1));
  ASSERT_EQ(results.calls[0].size(), 3u);
  EXPECT_EQ(results.calls[0][0].outcome, AttemptResult::Outcome::temporary);
  EXPECT_NE(results.calls[0][0].reply.find("answered for 2 of 3"), std::string::npos)
      << results.calls[0][0].reply;
}

TEST(BlockingTransportPool, DestructionLetsStartedAttemptsFinish) {
  ScriptedTransport transport(ScriptedTransport::Mode::answer);
  Results results;
  auto pool = std::make_unique<BlockingTransportPool>(transport, 1);
  for (int i = 0; i < 3; ++i) pool->start(request_for(1), results.done());
  ASSERT_TRUE(transport.wait_for_running(1));
  std::thread destroyer([&] { pool.reset(); });
  transport.release();
  destroyer.join();
  EXPECT_EQ(results.calls.size(), 3u) << "started before destruction: all answered";
}

}  // namespace
}  // namespace herald
