#include "store/rocksdb_migration.h"

#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <optional>
#include <string>

#include "store/record_codec.h"
#include "store/rocksdb_layout.h"

namespace herald::store_layout {
namespace {

// Keys per write: large enough that a million-message queue migrates in a hundred fsyncs,
// small enough that one batch stays a few megabytes.
constexpr size_t kKeysPerWrite = 10'000;

void check(const rocksdb::Status& status, std::string_view doing) {
  if (!status.ok()) {
    throw StoreError("store migration (" + std::string(doing) + "): " + status.ToString());
  }
}

// Puts and deletes keys in synced writes of kKeysPerWrite.
class BatchedWriter {
 public:
  explicit BatchedWriter(rocksdb::DB& db) : db_(db) {}

  void put(rocksdb::ColumnFamilyHandle* family, std::string_view key, std::string_view value) {
    check(batch_.Put(family, slice(key), slice(value)), "batch");
    if (batch_.Count() >= kKeysPerWrite) flush();
  }

  void erase(rocksdb::ColumnFamilyHandle* family, std::string_view key) {
    check(batch_.Delete(family, slice(key)), "batch");
    if (batch_.Count() >= kKeysPerWrite) flush();
  }

  void flush() {
    if (batch_.Count() == 0) return;
    rocksdb::WriteOptions options;
    options.sync = true;
    check(db_.Write(options, &batch_), "write");
    batch_.Clear();
  }

 private:
  rocksdb::DB& db_;
  rocksdb::WriteBatch batch_;
};

// Deletes every entry of the due index, whatever layout wrote it; returns how many.
size_t clear_due_index(const OpenDatabase& database, BatchedWriter& writer) {
  auto* due = database.family(kDue);
  size_t cleared = 0;
  std::unique_ptr<rocksdb::Iterator> it(database.db->NewIterator({}, due));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    writer.erase(due, it->key().ToStringView());
    ++cleared;
  }
  check(it->status(), "read the due index");
  writer.flush();
  return cleared;
}

// The qos.priority of message `id`, from the record read last when it is the same message
// (pending keys come grouped by message); nullopt when its record is missing or damaged.
class PriorityOfMessage {
 public:
  explicit PriorityOfMessage(const OpenDatabase& database) : database_(database) {}

  std::optional<int> operator()(const std::string& id) {
    if (id == id_) return priority_;
    id_ = id;
    priority_.reset();
    std::string value;
    const rocksdb::Status status =
        database_.db->Get({}, database_.family(kMessages), slice(id), &value);
    if (status.IsNotFound()) return priority_;  // quarantined by the first read that meets it
    check(status, "read a message record");
    try {
      priority_ = decode_message_record(value).qos.priority;
    } catch (const StoreError&) {
      // Left for the readers to quarantine.
    }
    return priority_;
  }

 private:
  const OpenDatabase& database_;
  std::string id_;
  std::optional<int> priority_;
};

// Gives every pending delivery its message's priority (rewriting its record when that
// changes it) and puts the due entry of each that is neither held nor terminal; returns how
// many entries.
size_t build_due_index(const OpenDatabase& database, BatchedWriter& writer) {
  rocksdb::DB& db = *database.db;
  auto* deliveries = database.family(kDeliveries);
  PriorityOfMessage priority_of(database);
  size_t built = 0;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator({}, database.family(kPending)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string value;
    const rocksdb::Status status = db.Get({}, deliveries, it->key(), &value);
    if (status.IsNotFound()) continue;  // quarantined by the first read that meets it
    check(status, "read a delivery");
    try {
      Delivery delivery = decode_delivery(value);
      if (is_terminal(delivery.state)) continue;
      // A message whose record cannot be read keeps its deliveries at their priority; the
      // first read through the index quarantines them with it.
      const std::optional<int> priority = priority_of(delivery.message_id);
      if (priority && *priority != delivery.priority) {
        delivery.priority = *priority;
        writer.put(deliveries, it->key().ToStringView(), encode_delivery(delivery));
      }
      if (delivery.held) continue;
      writer.put(database.family(kDue), due_key(DuePosition::of(delivery)), "");
      ++built;
    } catch (const StoreError& error) {
      spdlog::warn("store migration: delivery {} left out of the due index: {}",
                   it->key().ToString(), error.what());
    }
  }
  check(it->status(), "read pending deliveries");
  return built;
}

// When a message without pending deliveries finished: the time of its last ledger event
// (the ledger is in append order), else when it was received; nullopt when neither can be
// read.
std::optional<TimePoint> finish_time(const OpenDatabase& database, std::string_view message_id,
                                     std::string_view record) {
  const std::string prefix = rows_prefix(message_id);
  std::unique_ptr<rocksdb::Iterator> ledger(database.db->NewIterator({}, database.family(kLedger)));
  // Every row of the message sorts before prefix + 0xFF ('/' + digits).
  ledger->SeekForPrev(slice(prefix + "\xff"));
  if (ledger->Valid() && ledger->key().starts_with(prefix)) {
    try {
      return decode_ledger_event(ledger->value().ToStringView()).at;
    } catch (const StoreError&) {
      // Damaged; the record's arrival time serves.
    }
  }
  check(ledger->status(), "read a ledger");
  try {
    return decode_message_record(record).received_at;
  } catch (const StoreError&) {
    return std::nullopt;
  }
}

// Puts the finished entry of every message none of whose deliveries is pending; returns how
// many.
size_t build_finished_index(const OpenDatabase& database, BatchedWriter& writer) {
  rocksdb::DB& db = *database.db;
  size_t built = 0;
  std::unique_ptr<rocksdb::Iterator> pending(db.NewIterator({}, database.family(kPending)));
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator({}, database.family(kMessages)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string id = it->key().ToString();
    const std::string prefix = rows_prefix(id);
    pending->Seek(slice(prefix));
    check(pending->status(), "read pending deliveries");
    if (pending->Valid() && pending->key().starts_with(prefix)) continue;
    const auto finished_at = finish_time(database, id, it->value().ToStringView());
    if (!finished_at) {
      spdlog::warn(
          "store migration: message {} left out of the finished index: its record "
          "and ledger are unreadable",
          id);
      continue;
    }
    writer.put(database.family(kFinished), finished_key(*finished_at, id), "");
    ++built;
  }
  check(it->status(), "read messages");
  return built;
}

}  // namespace

void migrate_to_current_layout(const OpenDatabase& database) {
  rocksdb::DB& db = *database.db;
  std::string layout;
  const rocksdb::Status status = db.Get({}, db.DefaultColumnFamily(), slice(kLayoutKey), &layout);
  if (!status.ok() && !status.IsNotFound()) check(status, "read the layout");
  const bool has_marker = status.ok();
  if (has_marker && layout == kLayoutVersion) return;
  if (has_marker && layout != "2") {
    throw StoreError("store has layout " + layout + ", which this herald does not know (" +
                     std::string(kLayoutVersion) + "); was it written by a newer herald?");
  }

  BatchedWriter writer(db);
  // Layout 2's entries have no band, and a crash part way through leaves some of each kind:
  // the index is built again from the pending set whatever it holds.
  const size_t cleared = clear_due_index(database, writer);
  const size_t due = build_due_index(database, writer);
  // Layout 2 has the finished index already.
  const size_t finished = has_marker ? 0 : build_finished_index(database, writer);
  writer.flush();
  // The marker goes in a write of its own after every index key is durable.
  writer.put(db.DefaultColumnFamily(), kLayoutKey, kLayoutVersion);
  writer.flush();
  if (cleared > 0 || due > 0 || finished > 0) {
    spdlog::info(
        "store: migrated from layout {} to layout {}: {} deliveries in the due index (in "
        "priority bands), {} finished messages in the finished index",
        has_marker ? layout : "1", kLayoutVersion, due, finished);
  }
}

}  // namespace herald::store_layout
