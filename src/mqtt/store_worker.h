// Does what persistent sessions ask of the store (mqtt/session_store.h): commits kept
// PUBLISHes with their copies, ledger events and inbound marks in one synced write, writes
// session records, marks copies delivered or expired, and reads a session's queue. Also
// what the daemon does for all sessions: restores them into the broker at start and ends
// those whose expiry has come.
//
// Thread-safe, and blocking (every call does disk I/O): call it from a pool of several
// threads, never an io thread; concurrent commits share their fsyncs (the store's group
// commit). `store`, `broker`, `clock` and `memory` (null: not counted) must outlive it.
#pragma once

#include <cstddef>
#include <memory>

#include "mqtt/broker.h"
#include "mqtt/session_store.h"
#include "smtp/in_flight_budget.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/message_id.h"

namespace herald::mqtt {

class StoreWorker {
 public:
  StoreWorker(Store& store, Broker& broker, const Clock& clock, InFlightBudget* memory);

  // Does `request`; never throws: a StoreError is result.ok false (nothing of the writes
  // happened). The online sessions a commit added copies for are woken (Broker::stored).
  StoreResult perform(const StoreRequest& request);

  // Every stored session into the broker, offline (at start, before any listener). Returns
  // how many; a record the broker refuses is left out with a log line.
  size_t restore_sessions();

  // Ends the offline sessions whose expiry has come: their records and marks, and every
  // copy in their queues (discarded, with a ledger event). Returns how many ended.
  size_t end_expired_sessions();

 private:
  void end_session(const std::string& client_id, std::string_view reason);
  uint32_t queued_in(const std::string& client_id);
  void add_publish(StoreWrite& write, const StoreRequest& request, const PublishToKeep& publish,
                   std::vector<std::string>& ids, std::vector<std::string>& woken);
  void read_queue(const std::string& client_id, const QueueRead& read, StoreResult& result);
  void read_retained(const RetainedRead& read, StoreResult& result);
  std::optional<Outgoing> copy_of(const DueDelivery& due, StoreWrite& expired, TimePoint now,
                                  bool& no_room);

  Store& store_;
  Broker& broker_;
  const Clock& clock_;
  InFlightBudget* const memory_;
  // Message ids in commit order, so that a publisher's copies keep their order in a queue.
  MessageIdSequence ids_;
};

}  // namespace herald::mqtt
