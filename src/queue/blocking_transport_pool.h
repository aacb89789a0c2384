// An AsyncTransport over a blocking Transport: each attempt runs on one of a fixed number of
// threads of its own. Local delivery (a Maildir write and its fsyncs) is short disk work
// that a thread does best; the queue then starts every attempt the same way.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "queue/transport.h"

namespace herald {

class BlockingTransportPool final : public AsyncTransport {
 public:
  // `transport` must outlive the pool; `threads` (at least 1) attempts run at once, the rest
  // wait in start() order.
  BlockingTransportPool(Transport& transport, unsigned threads);
  // Lets the attempts already started finish (each gets its done), then joins the threads.
  ~BlockingTransportPool() override;
  BlockingTransportPool(const BlockingTransportPool&) = delete;
  BlockingTransportPool& operator=(const BlockingTransportPool&) = delete;

  // Thread-safe; never blocks. A transport that throws, or answers for another number of
  // deliveries than it was given, is reported as a temporary failure of each delivery.
  void start(AttemptRequest request, AttemptDone done) override;

 private:
  void work();

  Transport& transport_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<AttemptRequest, AttemptDone>> waiting_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace herald
