// The RocksDB store's class (internal to src/store), whose work is split by job over
// rocksdb_store.cpp (writes that keep the indexes true, plain reads), rocksdb_content.cpp
// (bodies in pieces, written ahead of their commit), rocksdb_queue_reads.cpp
// (the due index and the pending set), rocksdb_quarantine.cpp, rocksdb_retention.cpp and
// rocksdb_mqtt.cpp (the MQTT face's sessions, inbound marks and retained messages).
// The layout it keeps is in store/rocksdb_layout.h.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "store/rocksdb_database.h"
#include "store/rocksdb_layout.h"
#include "store/store.h"

namespace herald::store_layout {

// Ledger keys must be unique and in append order, also when two threads append to one
// message in the same microsecond. Each key takes max(previous + 1, now in microseconds):
// strictly increasing within the process, and, seeded by the clock, above what an earlier
// run of the daemon wrote (unless the wall clock stepped back across the restart).
class LedgerSequence {
 public:
  uint64_t next() {
    const auto now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count());
    uint64_t last = last_.load();
    uint64_t chosen;
    do {
      chosen = std::max(last + 1, now);
    } while (!last_.compare_exchange_weak(last, chosen));
    return chosen;
  }

 private:
  std::atomic<uint64_t> last_{0};
};

inline void check(const rocksdb::Status& status) {
  if (!status.ok()) throw StoreError("store: " + status.ToString());
}

inline void put(rocksdb::WriteBatch& batch, rocksdb::ColumnFamilyHandle* family,
                std::string_view key, std::string_view value) {
  check(batch.Put(family, slice(key), slice(value)));
}

inline void erase(rocksdb::WriteBatch& batch, rocksdb::ColumnFamilyHandle* family,
                  std::string_view key) {
  check(batch.Delete(family, slice(key)));
}

// Whether the delivery belongs in the due index.
inline bool has_due_entry(const Delivery& delivery) {
  return !is_terminal(delivery.state) && !delivery.held;
}

// The deliveries one write commits, by key (ID/INDEX); they point into the StoreWrite.
using CommittedDeliveries = std::map<std::string, const Delivery*, std::less<>>;

// Thread-safety as Store's. Writes that decide from what is stored (updates, quarantine,
// removal) hold the locks of the messages they touch; commits and appends take none.
class RocksDbStore final : public Store {
 public:
  RocksDbStore(OpenDatabase opened, StoreMode mode, std::unique_ptr<ScratchDirectory> scratch)
      : scratch_(std::move(scratch)),
        mode_(mode),
        default_(opened.family(rocksdb::kDefaultColumnFamilyName)),
        messages_(opened.family(kMessages)),
        content_(opened.family(kContent)),
        deliveries_(opened.family(kDeliveries)),
        ledger_(opened.family(kLedger)),
        pending_(opened.family(kPending)),
        due_(opened.family(kDue)),
        finished_(opened.family(kFinished)),
        quarantine_(opened.family(kQuarantine)),
        mqtt_sessions_(opened.family(kMqttSessions)),
        mqtt_inbound_(opened.family(kMqttInbound)),
        mqtt_retained_(opened.family(kMqttRetained)),
        db_(std::move(opened.db)),
        handles_(std::move(opened.handles)) {}

  ~RocksDbStore() override {
    for (auto* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
    db_->Close();
  }

  // --- Store ---------------------------------------------------------------------------

  void commit_message(const MessageRecord& message, const ContentToCommit& content,
                      const std::vector<Delivery>& deliveries,
                      const std::vector<LedgerEvent>& events) override;

  using Store::update_delivery;
  void update_delivery(const Delivery& delivery, const std::vector<LedgerEvent>& events) override;

  void append_event(std::string_view message_id, const LedgerEvent& event) override;

  void apply(const StoreWrite& parts) override;

  std::optional<MessageRecord> message(std::string_view id) override;

  std::optional<MessageContent> content(std::string_view id) override;

  void write_body_piece(std::string_view id, uint32_t index, std::string_view piece) override;
  std::optional<std::string> body_piece(std::string_view id, uint32_t index) override;
  void discard_body(std::string_view id, uint32_t pieces) override;

  // Drops the bodies a crash left arriving (their transfers never committed), in one synced
  // write, before anything else uses the store. Returns how many there were.
  size_t drop_arriving_bodies();

  std::vector<Delivery> deliveries(std::string_view id) override;

  std::vector<LedgerEvent> ledger(std::string_view id) override;

  std::vector<DueDelivery> due_deliveries(const DuePosition& after, TimePoint until,
                                          size_t limit) override;

  std::vector<Delivery> unfinished_deliveries(const std::optional<DeliveryKey>& after,
                                              size_t limit) override;

  std::vector<DamagedRecord> damaged_records(size_t limit) override;

  size_t remove_finished(TimePoint before, size_t limit) override;

  void for_each_message(const std::function<bool(const MessageRecord&)>& visit) override;

  void for_each_mqtt_session(const std::function<bool(const MqttSessionRecord&)>& visit) override;
  std::vector<MqttInboundMark> mqtt_inbound(std::string_view client_id) override;
  std::vector<RetainedMessage> retained(std::string_view prefix, std::string_view after,
                                        size_t limit) override;

 private:
  // --- writing (rocksdb_store.cpp) -----------------------------------------------------

  void add_message(rocksdb::WriteBatch& batch, const MessageRecord& message,
                   const ContentToCommit& content, const std::vector<Delivery>& deliveries,
                   const std::vector<LedgerEvent>& events);

  // --- content (rocksdb_content.cpp) ---------------------------------------------------

  // Puts the header and the rest of the body of `content`, ends its arriving mark, and
  // returns the record as stored (size and body_pieces set).
  MessageRecord add_content(rocksdb::WriteBatch& batch, const MessageRecord& message,
                            const ContentToCommit& content);
  // Deletes the content of message `id`: header and every piece its record counts.
  // `pieces`: the count when the caller knows it (a message committed in the same write,
  // whose record is not stored yet); otherwise it is read from the record.
  void erase_content(rocksdb::WriteBatch& batch, std::string_view id,
                     std::optional<uint32_t> pieces = std::nullopt);
  // The body pieces of message `id` if `parts` commits it, as add_content stores them.
  static std::optional<uint32_t> pieces_committed_in(const StoreWrite& parts, std::string_view id);
  // Deletes every piece of `id`'s body by one range (uncounted: a crash's leftovers).
  void erase_pieces(rocksdb::WriteBatch& batch, std::string_view id);

  void add_event(rocksdb::WriteBatch& batch, std::string_view message_id, const LedgerEvent& event);

  // The updates of `parts` and what follows from them: due and pending entries moved,
  // content dropped and finished entries put for the messages they finish. Runs under the
  // locks of the updated messages.
  void add_updates(rocksdb::WriteBatch& batch, const StoreWrite& parts);

  // The delivery at `key` as it is before this write: committed by an earlier part of it, or
  // stored. nullopt when the stored one is undecodable: it gets no due entry deleted (a stale
  // one is dropped when read). Throws StoreError when there is none.
  std::optional<Delivery> stored_delivery(const std::string& key,
                                          const CommittedDeliveries& committed);

  // Whether message `id` had a pending delivery before this write, and whether one outside
  // `updated` is pending (so the message is not finished by it). Reads at most one entry more
  // than there are updated keys.
  std::pair<bool, bool> pending_outside(std::string_view id, const std::set<std::string>& updated,
                                        const CommittedDeliveries& committed);

  // --- the MQTT face (rocksdb_mqtt.cpp) -------------------------------------------------

  // The MQTT parts of `parts` (sessions, inbound marks, retained messages), after the rest
  // and in the order StoreWrite declares them, so that within one write a later part wins
  // (a session put and erased is erased). Throws std::invalid_argument for a retained
  // message with an empty payload, before anything is written.
  void add_mqtt_parts(rocksdb::WriteBatch& batch, const StoreWrite& parts);
  static bool has_mqtt_parts(const StoreWrite& parts);

  // Moves the MQTT record at `key` of `family` (`name`) to the quarantine, unless the row no
  // longer holds `bytes` (a write replaced it meanwhile) or the store is read-only (then it
  // is only logged). Under mqtt_lock_, as the writes of MQTT parts are.
  void quarantine_mqtt_record(rocksdb::ColumnFamilyHandle* family, std::string_view name,
                              const std::string& key, std::string_view reason,
                              std::string_view bytes);

  // --- retention (rocksdb_retention.cpp) -----------------------------------------------

  // Removes the messages of these finished entries: record, content, deliveries, ledger and
  // the entry, in one synced write. A message with a pending delivery (an entry left stale)
  // keeps everything but the entry. Returns how many were removed.
  size_t remove_messages(const std::vector<std::string>& finished_keys);

  // --- reading through the due index (rocksdb_queue_reads.cpp) ---------------------------

  // The delivery of the due entry `key` at `position`; nullopt when it is damaged or missing
  // (then quarantined) or when the entry is stale (then dropped).
  std::optional<Delivery> due_delivery(const DuePosition& position, const std::string& key);

  // The record of message `id`; null when missing or damaged (then quarantined).
  std::shared_ptr<const MessageRecord> message_record(const std::string& id);

  // --- quarantine (rocksdb_quarantine.cpp) ---------------------------------------------

  // Moves the delivery at `row` (`bytes`; nullopt when it is missing) to the quarantine, out
  // of the pending set and, when its entry is known, the due index. Nothing happens when the
  // row no longer holds `bytes` (an update replaced it meanwhile).
  void quarantine_delivery(const std::string& row, std::string_view reason,
                           std::optional<std::string_view> bytes,
                           const std::optional<std::string>& due_entry);

  // Moves the record of message `id` to the quarantine and takes every delivery of the
  // message out of the pending set and the due index: without its record none can be
  // attempted, and one quarantine entry says why.
  void quarantine_message(const std::string& id, std::string_view reason,
                          std::optional<std::string_view> bytes);

  // False, with a log line, when the store cannot move damage aside (read-only: the record
  // is skipped and stays where it is for the daemon to move).
  bool can_quarantine(const DamagedRecord& record) const;
  // The error line naming what was moved aside and why.
  static void log_quarantined(const DamagedRecord& record);

  // Drops the due entry `key` whose delivery no longer belongs there (an index left behind
  // by a record quarantined from the pending set, or moved while the entry was read).
  void drop_due_entry(const std::string& key, const std::optional<std::string>& message_id,
                      std::string_view why);

  // --- plumbing (rocksdb_store.cpp) ------------------------------------------------------

  void require_writable() const {
    if (mode_ == StoreMode::read_only) throw StoreError("store is open read-only");
  }

  void write(rocksdb::WriteBatch& batch);
  // Not synced: what a later synced write makes durable with it (the WAL is one log).
  void write_unsynced(rocksdb::WriteBatch& batch);

  std::optional<std::string> get(rocksdb::ColumnFamilyHandle* family, std::string_view key);

  // Calls visit(key, value) for each row of message `message_id` in `family`, in key order.
  template <typename Visit>
  void scan_rows(rocksdb::ColumnFamilyHandle* family, std::string_view message_id, Visit visit) {
    const std::string prefix = rows_prefix(message_id);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, family));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      visit(it->key().ToStringView(), it->value().ToStringView());
    }
    check(it->status());
  }

  std::mutex& message_lock(std::string_view message_id) {
    return message_locks_[lock_index(message_id)];
  }

  size_t lock_index(std::string_view message_id) const {
    return std::hash<std::string_view>{}(message_id) % message_locks_.size();
  }

  // The locks of all these messages, taken in index order so that two writes locking
  // overlapping sets cannot deadlock.
  std::vector<std::unique_lock<std::mutex>> lock_messages(const std::vector<std::string_view>& ids);

  std::unique_ptr<ScratchDirectory> scratch_;  // read_only only; removed after db_ is gone
  StoreMode mode_;
  // Null when not open: content when read-only, the layout-2 indexes when read-only over a
  // store not yet migrated.
  rocksdb::ColumnFamilyHandle* default_;
  rocksdb::ColumnFamilyHandle* messages_;
  rocksdb::ColumnFamilyHandle* content_;
  rocksdb::ColumnFamilyHandle* deliveries_;
  rocksdb::ColumnFamilyHandle* ledger_;
  rocksdb::ColumnFamilyHandle* pending_;
  rocksdb::ColumnFamilyHandle* due_;
  rocksdb::ColumnFamilyHandle* finished_;
  rocksdb::ColumnFamilyHandle* quarantine_;
  // Null when read-only over a store that a herald before the MQTT face wrote.
  rocksdb::ColumnFamilyHandle* mqtt_sessions_;
  rocksdb::ColumnFamilyHandle* mqtt_inbound_;
  rocksdb::ColumnFamilyHandle* mqtt_retained_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  LedgerSequence sequence_;
  std::array<std::mutex, 64> message_locks_;
  // Held by writes with MQTT parts and by the quarantine of MQTT records, so that a record
  // rewritten between its bad read and its move aside is not moved (records of the MQTT face
  // are not under message locks).
  std::mutex mqtt_lock_;
};

}  // namespace herald::store_layout
