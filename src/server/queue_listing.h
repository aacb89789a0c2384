// `herald queue list`: messages read from the store newest first and printed one row at a
// time, as they are read (Postfix's showq.c does the same reading for postqueue -p). Nothing
// is buffered beyond the message being printed, so `--limit 10` reads about ten messages
// however large the queue is.
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

// Walks Store::for_each_message (newest first), reads each candidate's deliveries, and
// writes every match to `out` as it is found, stopping once `filter.limit` are written.
// The layout, in fixed-width columns so that no row waits for the widest one:
//
//   ID (26)  RECEIVED (24)  SIZE (10, right)  PRIO (4, right)  FROM (32)  DELIVERIES
//
// A header line comes before the first row; with no row at all the one line is
// "queue is empty". A sender longer than its column is cut and ends in `~`
// (printable_text.h truncated). DELIVERIES holds one delivery a line, "mailbox:state", with
// "(held)" after one an operator holds: the first on the message's own line, each further
// one on a line of its own indented to that column, so that a line starting with an ID is
// always a message. Every delivery of a listed message is shown, whatever the filter.
// Returns the number of messages written. Throws StoreError when the store cannot be read
// (rows already written stay written) and whatever `out` throws.
size_t write_queue_listing(Store& store, const QueueListFilter& filter, std::ostream& out);

// `herald queue list --damaged`: the records the store moved to its quarantine because they
// could not be decoded (Store::damaged_records), oldest found first, at most `limit` (0: all
// up to a million), one line each:
//
//   FOUND (24)  FAMILY (10)  KEY (37)  SIZE (8, right)  REASON
//
// SIZE is the octets kept of the record; REASON is what the decoder said, printable.
// "no damaged records" when there are none. Returns how many were written; throws as
// write_queue_listing.
size_t write_damaged_listing(Store& store, size_t limit, std::ostream& out);

}  // namespace herald
