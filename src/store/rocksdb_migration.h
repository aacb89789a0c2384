// Bringing a store written by an older herald up to the current layout (internal to
// src/store). Layout 1 (no marker in the default family) had no due, finished or quarantine
// family; layout 2 had them, with due keys that had no priority band and deliveries that
// did not carry their message's priority. The indexes must be complete before the store is
// used.
#pragma once

#include "store/rocksdb_database.h"

namespace herald::store_layout {

// Called on every read-write open, before anything else touches the store. A store with the
// current marker is left alone. Otherwise deletes whatever the due index holds, gives each
// pending delivery its message's qos.priority (rewriting the delivery record), builds the
// due index from the pending deliveries (held and terminal ones have no entry) and, from
// layout 1, the finished index from the messages with no pending delivery (finished at the
// time of their last ledger event, else when received), in synced writes of about 10,000
// keys, logs what it built, and writes the marker last: a crash part way leaves the old
// marker, and the next open does the same again. Records it cannot decode are left for the
// store's readers to quarantine. Throws StoreError.
void migrate_to_current_layout(const OpenDatabase& database);

}  // namespace herald::store_layout
