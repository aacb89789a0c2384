// What an operator may do to the queue of a running daemon (`herald queue retry | hold |
// release | bounce`, carried over the control socket). Implemented by the QueueRunner,
// which owns the schedule these actions change.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace herald {

// Thread-safety: every method may be called from any thread. Each blocks on store I/O
// (never call it from an io thread) and returns only once its change and the `operator`
// ledger event that records it are durable. An empty message id means every message.
//
// Results: how many deliveries the action changed; nullopt when no such message is stored
// (an id given, but unknown). Deliveries already in a terminal state are never changed.
// Throws StoreError when the store failed; then nothing was changed.
class QueueControl {
 public:
  virtual ~QueueControl() = default;

  // Deliveries waiting for a retry (not held, not being attempted) become due now.
  virtual std::optional<size_t> retry(std::string_view message_id) = 0;

  // No attempt starts for these deliveries until release(); an attempt in progress runs to
  // its end. Holding survives a restart.
  virtual std::optional<size_t> hold(std::string_view message_id) = 0;

  // Held deliveries return to the schedule, due now.
  virtual std::optional<size_t> release(std::string_view message_id) = 0;

  // Every non-terminal delivery becomes `bounced` ("5.0.0 returned by the postmaster"), with
  // a failure DSN to the sender as NOTIFY and the no-backscatter rule allow. A delivery in
  // the middle of an attempt is bounced when that attempt ends, unless it was delivered.
  virtual std::optional<size_t> bounce(std::string_view message_id) = 0;
};

}  // namespace herald
