#include "queue/blocking_transport_pool.h"

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <string>

namespace herald {
namespace {

std::vector<AttemptResult> attempt(Transport& transport, const AttemptRequest& request) {
  try {
    if (!request.content) throw std::logic_error("an attempt without content");
    const MessageContent& content = *request.content;
    std::vector<AttemptResult> results =
        request.deliveries.size() == 1
            ? std::vector<AttemptResult>{transport.attempt(request.message,
                                                           request.deliveries.front(), content)}
            : transport.attempt_together(request.message, request.deliveries, content);
    if (results.size() == request.deliveries.size()) return results;
    throw std::logic_error("the transport answered for " + std::to_string(results.size()) + " of " +
                           std::to_string(request.deliveries.size()) + " deliveries");
  } catch (const std::exception& e) {
    AttemptResult failed;
    failed.outcome = AttemptResult::Outcome::temporary;
    failed.reply = std::string("4.3.0 delivery failed: ") + e.what();
    return std::vector<AttemptResult>(request.deliveries.size(), failed);
  }
}

}  // namespace

BlockingTransportPool::BlockingTransportPool(Transport& transport, unsigned threads)
    : transport_(transport) {
  for (unsigned i = 0; i < std::max(threads, 1u); ++i) threads_.emplace_back([this] { work(); });
}

BlockingTransportPool::~BlockingTransportPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

void BlockingTransportPool::start(AttemptRequest request, AttemptDone done) {
  {
    std::lock_guard lock(mutex_);
    waiting_.emplace_back(std::move(request), std::move(done));
  }
  wake_.notify_one();
}

void BlockingTransportPool::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !waiting_.empty(); });
    if (waiting_.empty()) return;  // stopping, and nothing was started that has not run
    auto [request, done] = std::move(waiting_.front());
    waiting_.pop_front();
    lock.unlock();
    done(attempt(transport_, request));
    lock.lock();
  }
}

}  // namespace herald
