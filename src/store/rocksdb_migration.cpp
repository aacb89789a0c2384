#include "store/rocksdb_migration.h"

#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

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

// Puts keys with empty values into synced writes of kKeysPerWrite.
class BatchedWriter {
 public:
  explicit BatchedWriter(rocksdb::DB& db) : db_(db) {}

  void put(rocksdb::ColumnFamilyHandle* family, std::string_view key, std::string_view value) {
    check(batch_.Put(family, slice(key), slice(value)), "batch");
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

// Puts the due entry of every pending delivery that is neither held nor terminal; returns
// how many.
size_t build_due_index(const OpenDatabase& database, BatchedWriter& writer) {
  rocksdb::DB& db = *database.db;
  auto* deliveries = database.family(kDeliveries);
  size_t built = 0;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator({}, database.family(kPending)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string value;
    const rocksdb::Status status = db.Get({}, deliveries, it->key(), &value);
    if (status.IsNotFound()) continue;  // quarantined by the first read that meets it
    check(status, "read a delivery");
    try {
      const Delivery delivery = decode_delivery(value);
      if (is_terminal(delivery.state) || delivery.held) continue;
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
  if (status.ok()) {
    if (layout == kLayoutVersion) return;
    throw StoreError("store has layout " + layout + ", which this herald does not know (" +
                     std::string(kLayoutVersion) + "); was it written by a newer herald?");
  }
  if (!status.IsNotFound()) check(status, "read the layout");

  BatchedWriter writer(db);
  const size_t due = build_due_index(database, writer);
  const size_t finished = build_finished_index(database, writer);
  writer.flush();
  // The marker goes in a write of its own after every index key is durable.
  writer.put(db.DefaultColumnFamily(), kLayoutKey, kLayoutVersion);
  writer.flush();
  if (due > 0 || finished > 0) {
    spdlog::info(
        "store: migrated to layout {}: {} deliveries in the due index, {} finished "
        "messages in the finished index",
        kLayoutVersion, due, finished);
  }
}

}  // namespace herald::store_layout
