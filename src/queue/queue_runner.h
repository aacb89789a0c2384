// The queue runner carries accepted deliveries to their transports and records every
// outcome (DESIGN.md sections 2 and 3). It reads what is due from the store's due index in
// slices, holding at most [queue] active_limit deliveries per transport in memory, takes new
// deliveries as sessions commit them, orders them with a Scheduler per transport (priority,
// deadline, age; per-destination limits), retries temporary failures within their retry
// budget, expires what passes its hard stop, and sends the DSNs that outcomes call for
// (queue/delivery_notice.h), one per message and outcome. Outcomes are written in batches,
// each with its DSNs in the same write. Operators steer it through QueueControl.
#pragma once

#include <atomic>
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
  // While set (the disk is short of space), no local delivery starts: it would write
  // Maildir files. Remote attempts go on; their outcomes free space. Null: never paused.
  const std::atomic<bool>* storage_low = nullptr;
};

class QueueRunner final : public QueueControl {
 public:
  // `local` carries deliveries of transport "local", on local_delivery_workers threads of
  // the runner's; `remote` (optional) those of "smtp", at most remote_delivery_workers
  // attempts at once. A delivery of a transport this runner lacks stays pending in the
  // store. `store`, the transports and `clock` must outlive the runner. Nothing runs until
  // start().
  QueueRunner(Store& store, Transport& local, AsyncTransport* remote, const Clock& clock,
              QueueRunnerSettings settings);
  ~QueueRunner() override;  // stops, as stop() does
  QueueRunner(const QueueRunner&) = delete;
  QueueRunner& operator=(const QueueRunner&) = delete;

  // Starts the loop and returns at once: what the store holds is read in slices as the
  // loop goes, so listeners may open right after. Not twice.
  void start();

  // Hands over the deliveries of a message that was just committed. Thread-safe; takes
  // only the inbox's lock, never blocks on I/O.
  void enqueue(const MessageRecord& message, const std::vector<Delivery>& deliveries);

  // Starts no more attempts, lets those in progress finish and records their outcomes, then
  // joins the loop. Deliveries not yet attempted stay pending in the store for the next
  // start. A remote transport's attempts end sooner when it was shut down first. When the
  // store keeps failing, outcomes not recorded after some seconds are given up (logged):
  // the deliveries stay pending and are attempted again after a restart.
  void stop();

  // Deliveries the runner holds in memory (waiting in a window or in an attempt): at most
  // [queue] active_limit per transport, plus those in attempts. Thread-safe; waits for
  // the loop.
  size_t deliveries_in_memory();

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
