// The queue runner carries accepted deliveries to their transports and records every
// outcome (DESIGN.md sections 2 and 3). It resumes what the store holds as pending at start,
// takes new deliveries as sessions commit them, orders them with a Scheduler per transport
// (priority, deadline, age; per-destination limits), retries temporary failures within their
// retry budget, expires what passes its hard stop, and sends the DSNs that outcomes call for
// (queue/delivery_notice.h). Operators steer it through QueueControl.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "queue/delivery_notice.h"
#include "queue/queue_control.h"
#include "queue/transport.h"
#include "store/store.h"
#include "util/clock.h"

namespace herald {

struct QueueRunnerSettings {
  QueueConfig queue;
  std::vector<DestinationConfig> destinations;
  std::string hostname;  // the reporting MTA named in DSNs
  NoticeRouter route;    // where a DSN to an address goes; thread-safe
};

class QueueRunner final : public QueueControl {
 public:
  // `local` carries deliveries of transport "local", `remote` (optional) those of "smtp";
  // a delivery of a transport this runner lacks stays pending in the store. `store`, the
  // transports and `clock` must outlive the runner. Nothing runs until start().
  QueueRunner(Store& store, Transport& local, Transport* remote, const Clock& clock,
              QueueRunnerSettings settings);
  ~QueueRunner() override;  // stops, as stop() does
  QueueRunner(const QueueRunner&) = delete;
  QueueRunner& operator=(const QueueRunner&) = delete;

  // Loads the store's pending deliveries and starts the worker threads
  // (local_delivery_workers, and remote_delivery_workers when there is a remote transport).
  // Throws StoreError when the store cannot be read.
  void start();

  // Hands over the deliveries of a message that was just committed. Thread-safe, never
  // blocks on I/O.
  void enqueue(const MessageRecord& message, const std::vector<Delivery>& deliveries);

  // Lets attempts in progress finish and record their outcome, then joins the workers.
  // Deliveries not yet attempted stay pending in the store for the next start. A remote
  // transport's attempts end sooner when it was shut down first.
  void stop();

  // QueueControl (queue/queue_control.h).
  std::optional<size_t> retry(std::string_view message_id) override;
  std::optional<size_t> hold(std::string_view message_id) override;
  std::optional<size_t> release(std::string_view message_id) override;
  std::optional<size_t> bounce(std::string_view message_id) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald
