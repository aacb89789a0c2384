// `herald queue list`: the messages of the store that pass a filter, newest first, as a
// table (Postfix keeps this reading apart from the command: showq.c beside postqueue.c).
#pragma once

#include <cstddef>
#include <optional>
#include <ostream>
#include <string>

#include "store/store.h"

namespace herald {

// Which messages are listed. A message is listed when its priority passes and at least one
// of its deliveries passes the state and destination tests.
struct QueueListFilter {
  bool all = false;                 // terminal deliveries count too
  std::string state;                // a delivery in exactly this state; empty: see `all`
  std::string destination;          // recipient domain, lower case; empty: any
  std::optional<int> priority;      // the message's priority is exactly this
  std::optional<int> min_priority;  // the message's priority is at least this
  size_t limit = 0;                 // at most this many messages; 0: no limit
};

// Finds the matching messages (those with work left through Store::pending_deliveries, the
// others by a walk over every message), newest first and at most `filter.limit`, and writes
// them to `out` as a table whose columns are as wide as their widest value: ID, RECEIVED,
// SIZE, PRIO, FROM and DELIVERIES ("mailbox:state" each, "(held)" after a held one), or the
// one line "queue is empty". Returns the number of messages written. Throws StoreError when
// the store cannot be read, and whatever `out` throws.
size_t write_queue_listing(Store& store, const QueueListFilter& filter, std::ostream& out);

}  // namespace herald
