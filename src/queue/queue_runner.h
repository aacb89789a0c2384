// The queue runner carries accepted deliveries to their transports and records every
// outcome. It resumes what the store holds as pending at start, takes new deliveries as
// sessions commit them, retries temporary failures with backoff (queue/retry_policy.h) and
// gives up, as `expired`, when the retry budget (max_age) is spent.
#pragma once

#include <memory>
#include <vector>

#include "config/config.h"
#include "queue/transport.h"
#include "store/store.h"
#include "util/clock.h"

namespace herald {

class QueueRunner {
 public:
  // `store`, `local` and `clock` must outlive the runner. Nothing runs until start().
  QueueRunner(Store& store, Transport& local, const Clock& clock, const QueueConfig& config);
  ~QueueRunner();  // stops, as stop() does
  QueueRunner(const QueueRunner&) = delete;
  QueueRunner& operator=(const QueueRunner&) = delete;

  // Loads the store's pending deliveries and starts the worker threads. Throws StoreError
  // when the store cannot be read.
  void start();

  // Hands over deliveries that were just committed. Thread-safe, never blocks on I/O.
  void enqueue(const std::vector<Delivery>& deliveries);

  // Lets attempts in progress finish and record their outcome, then joins the workers.
  // Deliveries not yet attempted stay pending in the store for the next start.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald
