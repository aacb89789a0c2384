// The embedded Store backend (DESIGN.md section 8): one RocksDB database with a column
// family per kind of record and per index, laid out as store/rocksdb_layout.h says. This
// file keeps the indexes true on every write and reads through them.
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <limits>
#include <map>
#include <mutex>
#include <set>

#include "store/record_codec.h"
#include "store/rocksdb_database.h"
#include "store/rocksdb_layout.h"
#include "store/rocksdb_migration.h"
#include "store/rocksdb_quarantine.h"
#include "store/store.h"

namespace herald {
namespace {

using namespace store_layout;

// Messages per write when removing finished ones: each brings its record, deliveries and
// ledger, some ten keys, so a write stays a few thousand keys.
constexpr size_t kRemovalsPerWrite = 256;

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

void check(const rocksdb::Status& status) {
  if (!status.ok()) throw StoreError("store: " + status.ToString());
}

void put(rocksdb::WriteBatch& batch, rocksdb::ColumnFamilyHandle* family, std::string_view key,
         std::string_view value) {
  check(batch.Put(family, slice(key), slice(value)));
}

void erase(rocksdb::WriteBatch& batch, rocksdb::ColumnFamilyHandle* family, std::string_view key) {
  check(batch.Delete(family, slice(key)));
}

bool has_due_entry(const Delivery& delivery) {
  return !is_terminal(delivery.state) && !delivery.held;
}

void require_own_deliveries(const MessageRecord& message, const std::vector<Delivery>& deliveries) {
  for (const Delivery& d : deliveries) {
    if (d.message_id != message.id) {
      throw std::invalid_argument("delivery of message " + d.message_id +
                                  " committed with message " + message.id);
    }
  }
}

// What one apply does to one message it updates: enough to tell whether the write finishes
// it and when.
struct MessageChange {
  std::set<std::string> updated_keys;  // its deliveries this write updates
  bool any_pending_after = false;      // an update leaves one of them pending
  bool any_terminal = false;           // an update makes one of them terminal
  std::optional<TimePoint> latest_event;

  void saw(const LedgerEvent& event) {
    if (!latest_event || event.at > *latest_event) latest_event = event.at;
  }
};

class RocksDbStore final : public Store {
 public:
  RocksDbStore(OpenDatabase opened, StoreMode mode, std::unique_ptr<ScratchDirectory> scratch)
      : scratch_(std::move(scratch)),
        mode_(mode),
        messages_(opened.family(kMessages)),
        content_(opened.family(kContent)),
        deliveries_(opened.family(kDeliveries)),
        ledger_(opened.family(kLedger)),
        pending_(opened.family(kPending)),
        due_(opened.family(kDue)),
        finished_(opened.family(kFinished)),
        quarantine_(opened.family(kQuarantine)),
        db_(std::move(opened.db)),
        handles_(std::move(opened.handles)) {}

  ~RocksDbStore() override {
    for (auto* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
    db_->Close();
  }

  void commit_message(const MessageRecord& message, std::string_view content,
                      const std::vector<Delivery>& deliveries,
                      const std::vector<LedgerEvent>& events) override {
    require_writable();
    require_own_deliveries(message, deliveries);
    // One batch: a crash leaves all of the message or none of it, never a record without
    // its content, or a delivery missing from the pending set that a restart resumes.
    // Commits take no message lock: nothing else can know the new id yet.
    rocksdb::WriteBatch batch;
    add_message(batch, message, content, deliveries, events);
    write(batch);
  }

  using Store::update_delivery;
  void update_delivery(const Delivery& delivery, const std::vector<LedgerEvent>& events) override {
    StoreWrite one;
    one.updates.push_back({delivery, events});
    apply(one);
  }

  void append_event(std::string_view message_id, const LedgerEvent& event) override {
    require_writable();
    rocksdb::WriteBatch batch;
    add_event(batch, message_id, event);
    write(batch);
  }

  void apply(const StoreWrite& parts) override {
    require_writable();
    if (parts.empty()) return;
    for (const auto& m : parts.messages) require_own_deliveries(m.record, m.deliveries);
    // Whether an update finishes its message depends on the other deliveries still pending:
    // the reading of them below and the write that acts on it happen under the locks of
    // every message updated, so that two writes finishing one message's last two deliveries
    // cannot both see the other still pending (then the content would never be dropped).
    std::vector<std::string_view> updated;
    for (const auto& u : parts.updates) updated.push_back(u.delivery.message_id);
    const auto locks = lock_messages(updated);

    rocksdb::WriteBatch batch;
    for (const auto& m : parts.messages) {
      add_message(batch, m.record, m.content, m.deliveries, m.events);
    }
    add_updates(batch, parts);
    for (const auto& e : parts.events) add_event(batch, e.message_id, e.event);
    write(batch);
  }

  std::optional<MessageRecord> message(std::string_view id) override {
    auto value = get(messages_, id);
    if (!value) return std::nullopt;
    return decode_message_record(*value);
  }

  std::optional<std::string> content(std::string_view id) override {
    if (content_ == nullptr) {
      throw StoreError("message content is not readable from a read-only store");
    }
    return get(content_, id);
  }

  std::vector<Delivery> deliveries(std::string_view id) override {
    std::vector<Delivery> out;
    scan_rows(deliveries_, id, [&](std::string_view, std::string_view value) {
      out.push_back(decode_delivery(value));
    });
    return out;
  }

  std::vector<LedgerEvent> ledger(std::string_view id) override {
    std::vector<LedgerEvent> out;
    scan_rows(ledger_, id, [&](std::string_view, std::string_view value) {
      out.push_back(decode_ledger_event(value));
    });
    return out;
  }

  std::vector<DueDelivery> due_deliveries(const DuePosition& after, TimePoint until,
                                          size_t limit) override {
    std::vector<DueDelivery> out;
    // A store not yet migrated, read by the CLI, has no index to read.
    if (due_ == nullptr || limit == 0) return out;
    const std::string prefix = due_prefix(after.transport);
    const std::string start = due_key(after);
    const std::string last_time = encode_time(until);
    // A message's record, read once per call; null when it is damaged or missing.
    std::map<std::string, std::shared_ptr<const MessageRecord>, std::less<>> records;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, due_));
    for (it->Seek(slice(start)); it->Valid() && out.size() < limit; it->Next()) {
      const std::string_view key = it->key().ToStringView();
      if (!key.starts_with(prefix)) break;
      if (key == start) continue;
      if (key.substr(prefix.size(), last_time.size()) > last_time) break;
      const auto position = parse_due_key(key);
      if (!position) {
        drop_due_entry(std::string(key), std::nullopt, "it is not a due key");
        continue;
      }
      auto delivery = due_delivery(*position, std::string(key));
      if (!delivery) continue;
      auto found = records.find(position->message_id);
      if (found == records.end()) {
        found = records.emplace(position->message_id, message_record(position->message_id)).first;
      }
      if (found->second == nullptr) {
        // The record of an earlier delivery of this call was damaged; quarantining it took
        // every delivery of the message out of the index.
        continue;
      }
      out.push_back({found->second, std::move(*delivery)});
    }
    check(it->status());
    return out;
  }

  std::vector<Delivery> unfinished_deliveries(const std::optional<DeliveryKey>& after,
                                              size_t limit) override {
    std::vector<Delivery> out;
    const std::string start = after ? delivery_key(after->message_id, after->index) : "";
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, pending_));
    for (it->Seek(slice(start)); it->Valid() && out.size() < limit; it->Next()) {
      const std::string key = it->key().ToString();
      if (after && key == start) continue;
      auto value = get(deliveries_, key);
      if (!value) {
        quarantine_delivery(key, "missing", "", std::nullopt);
        continue;
      }
      try {
        Delivery delivery = decode_delivery(*value);
        // A pending entry of a terminal delivery would be a bug of ours; not unfinished.
        if (!is_terminal(delivery.state)) out.push_back(std::move(delivery));
      } catch (const StoreError& error) {
        quarantine_delivery(key, error.what(), *value, std::nullopt);
      }
    }
    check(it->status());
    return out;
  }

  std::vector<DamagedRecord> damaged_records(size_t limit) override {
    std::vector<DamagedRecord> out;
    if (quarantine_ == nullptr) return out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, quarantine_));
    for (it->SeekToFirst(); it->Valid() && out.size() < limit; it->Next()) {
      try {
        out.push_back(decode_damaged_record(it->value().ToStringView()));
      } catch (const StoreError& error) {
        // Shown as it is rather than hidden: the quarantine itself is damaged.
        out.push_back({kQuarantine, it->key().ToString(), error.what(), it->value().ToString(),
                       leading_time(it->key().ToStringView())});
      }
    }
    check(it->status());
    return out;
  }

  size_t remove_finished(TimePoint before, size_t limit) override {
    require_writable();
    // Entries finished before `before`: their whole milliseconds are at most this.
    const std::string last_time = encode_time(before - Duration(1));
    size_t removed = 0;
    std::string resume;  // the entry after which the next round starts
    while (removed < limit) {
      std::vector<std::string> keys;
      {
        std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, finished_));
        for (it->Seek(slice(resume));
             it->Valid() && keys.size() < kRemovalsPerWrite && keys.size() < limit - removed;
             it->Next()) {
          const std::string_view key = it->key().ToStringView();
          if (key == resume) continue;
          if (key.substr(0, last_time.size()) > last_time) break;
          keys.emplace_back(key);
        }
        check(it->status());
      }
      if (keys.empty()) break;
      resume = keys.back();
      removed += remove_messages(keys);
      if (keys.size() < kRemovalsPerWrite) break;
    }
    return removed;
  }

  std::vector<Delivery> pending_deliveries() override {
    return unfinished_deliveries(std::nullopt, std::numeric_limits<size_t>::max());
  }

  void for_each_message(const std::function<bool(const MessageRecord&)>& visit) override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, messages_));
    for (it->SeekToLast(); it->Valid(); it->Prev()) {
      if (!visit(decode_message_record(it->value().ToStringView()))) return;
    }
    check(it->status());
  }

 private:
  // --- writing ---------------------------------------------------------------------------

  void add_message(rocksdb::WriteBatch& batch, const MessageRecord& message,
                   std::string_view content, const std::vector<Delivery>& deliveries,
                   const std::vector<LedgerEvent>& events) {
    put(batch, messages_, message.id, encode_message_record(message));
    put(batch, content_, message.id, content);
    bool any_pending = false;
    for (const Delivery& d : deliveries) {
      const std::string key = delivery_key(d.message_id, d.index);
      put(batch, deliveries_, key, encode_delivery(d));
      if (is_terminal(d.state)) continue;
      any_pending = true;
      put(batch, pending_, key, "");
      if (!d.held) put(batch, due_, due_key(DuePosition::of(d)), "");
    }
    MessageChange change;
    for (const LedgerEvent& e : events) {
      add_event(batch, message.id, e);
      change.saw(e);
    }
    // A message accepted with nothing to deliver is finished at once (its content stays,
    // as for every commit, until retention removes it).
    if (!any_pending) put(batch, finished_, finished_key(finish_time(change), message.id), "");
  }

  void add_event(rocksdb::WriteBatch& batch, std::string_view message_id,
                 const LedgerEvent& event) {
    put(batch, ledger_, ledger_key(message_id, sequence_.next()), encode_ledger_event(event));
  }

  // The updates of `parts` and what follows from them: due and pending entries moved,
  // content dropped and finished entries put for the messages they finish. Runs under the
  // locks of the updated messages.
  void add_updates(rocksdb::WriteBatch& batch, const StoreWrite& parts) {
    // The later update of a delivery updated twice wins; each one's events are kept.
    std::map<std::string, const Delivery*> latest;
    std::map<std::string, MessageChange, std::less<>> changes;
    for (const auto& u : parts.updates) {
      const std::string key = delivery_key(u.delivery.message_id, u.delivery.index);
      latest[key] = &u.delivery;
      MessageChange& change = changes[u.delivery.message_id];
      change.updated_keys.insert(key);
      for (const LedgerEvent& e : u.events) {
        add_event(batch, u.delivery.message_id, e);
        change.saw(e);
      }
    }
    for (const auto& e : parts.events) {
      const auto found = changes.find(e.message_id);
      if (found != changes.end()) found->second.saw(e.event);
    }
    for (const auto& [key, delivery] : latest) {
      const std::optional<Delivery> before = stored_delivery(key, parts);
      if (before && has_due_entry(*before)) erase(batch, due_, due_key(DuePosition::of(*before)));
      put(batch, deliveries_, key, encode_delivery(*delivery));
      MessageChange& change = changes[delivery->message_id];
      if (is_terminal(delivery->state)) {
        // The pending entry goes in the same batch as the final state: a crash cannot leave
        // a final delivery to be attempted again.
        erase(batch, pending_, key);
        change.any_terminal = true;
      } else {
        put(batch, pending_, key, "");
        if (!delivery->held) put(batch, due_, due_key(DuePosition::of(*delivery)), "");
        change.any_pending_after = true;
      }
    }
    for (const auto& [id, change] : changes) {
      if (change.any_pending_after) continue;
      const auto [pending_before, others_pending] = pending_outside(id, change.updated_keys, parts);
      if (others_pending) continue;
      // No delivery left pending: the content goes in the same batch, so a crash cannot drop
      // it under a delivery that still needs it. The message finishes only in the write that
      // takes its last pending delivery; updating a delivery already final changes nothing.
      if (change.any_terminal) erase(batch, content_, id);
      if (pending_before) put(batch, finished_, finished_key(finish_time(change), id), "");
    }
  }

  // The delivery at `key` as it is before this write: committed by an earlier part of it, or
  // stored. nullopt when the stored one is undecodable: it gets no due entry deleted (a stale
  // one is dropped when read). Throws StoreError when there is none.
  std::optional<Delivery> stored_delivery(const std::string& key, const StoreWrite& parts) {
    for (const auto& m : parts.messages) {
      for (const Delivery& d : m.deliveries) {
        if (delivery_key(d.message_id, d.index) == key) return d;
      }
    }
    const auto value = get(deliveries_, key);
    if (!value) throw StoreError("no delivery " + key + " in the store to update");
    try {
      return decode_delivery(*value);
    } catch (const StoreError& error) {
      spdlog::warn("store: delivery {} was undecodable before this update: {}", key, error.what());
      return std::nullopt;
    }
  }

  // Whether message `id` had a pending delivery before this write, and whether one outside
  // `updated` is pending (so the message is not finished by it). Reads at most one entry more
  // than there are updated keys.
  std::pair<bool, bool> pending_outside(std::string_view id, const std::set<std::string>& updated,
                                        const StoreWrite& parts) {
    bool before = false;
    for (const auto& m : parts.messages) {
      if (m.record.id != id) continue;
      for (const Delivery& d : m.deliveries) {
        if (is_terminal(d.state)) continue;
        before = true;
        if (!updated.contains(delivery_key(d.message_id, d.index))) return {true, true};
      }
    }
    const std::string prefix = rows_prefix(id);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, pending_));
    for (it->Seek(slice(prefix)); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      before = true;
      if (!updated.contains(it->key().ToString())) return {true, true};
    }
    check(it->status());
    return {before, false};
  }

  static TimePoint finish_time(const MessageChange& change) {
    return change.latest_event.value_or(std::chrono::system_clock::now());
  }

  // Removes the messages of these finished entries: record, content, deliveries, ledger and
  // the entry, in one synced write. A message with a pending delivery (an entry left stale)
  // keeps everything but the entry. Returns how many were removed.
  size_t remove_messages(const std::vector<std::string>& finished_keys) {
    std::vector<std::string_view> ids;
    for (const auto& key : finished_keys) ids.push_back(finished_message_id(key));
    const auto locks = lock_messages(ids);
    rocksdb::WriteBatch batch;
    size_t removed = 0;
    for (const auto& key : finished_keys) {
      erase(batch, finished_, key);
      const std::string_view id = finished_message_id(key);
      if (id.empty()) continue;
      if (pending_outside(id, {}, {}).second) {
        spdlog::warn("store: message {} has pending deliveries; not removed", id);
        continue;
      }
      erase(batch, messages_, id);
      erase(batch, content_, id);
      for (auto* family : {deliveries_, ledger_}) {
        scan_rows(family, id,
                  [&](std::string_view row, std::string_view) { erase(batch, family, row); });
      }
      ++removed;
    }
    write(batch);
    return removed;
  }

  // --- reading through the due index ---------------------------------------------------------

  // The delivery of the due entry `key` at `position`; nullopt when it is damaged or missing
  // (then quarantined) or when the entry is stale (then dropped).
  std::optional<Delivery> due_delivery(const DuePosition& position, const std::string& key) {
    const std::string row = delivery_key(position.message_id, position.index);
    const auto value = get(deliveries_, row);
    if (!value) {
      if (get(pending_, row)) {
        quarantine_delivery(row, "missing", "", key);
      } else {
        drop_due_entry(key, position.message_id, "its delivery is gone");
      }
      return std::nullopt;
    }
    try {
      Delivery delivery = decode_delivery(*value);
      if (has_due_entry(delivery) && DuePosition::of(delivery) == position) return delivery;
      drop_due_entry(key, position.message_id, "its delivery has moved on");
    } catch (const StoreError& error) {
      quarantine_delivery(row, error.what(), *value, key);
    }
    return std::nullopt;
  }

  // The record of message `id`; null when missing or damaged (then quarantined).
  std::shared_ptr<const MessageRecord> message_record(const std::string& id) {
    const auto value = get(messages_, id);
    if (!value) {
      quarantine_message(id, "missing", "");
      return nullptr;
    }
    try {
      return std::make_shared<const MessageRecord>(decode_message_record(*value));
    } catch (const StoreError& error) {
      quarantine_message(id, error.what(), *value);
      return nullptr;
    }
  }

  // --- quarantine ----------------------------------------------------------------------------

  // Moves the delivery at `row` (`bytes`, or missing when `reason` is "missing") to the
  // quarantine, out of the pending set and, when its entry is known, the due index.
  void quarantine_delivery(const std::string& row, std::string_view reason, std::string_view bytes,
                           const std::optional<std::string>& due_entry) {
    const DamagedRecord record{kDeliveries, row, std::string(reason), std::string(bytes),
                               std::chrono::system_clock::now()};
    if (!can_quarantine(record)) return;
    const auto key = parse_delivery_key(row);
    std::lock_guard lock(message_lock(key ? key->message_id : row));
    // An update may have replaced it since it was read; then there is nothing to move.
    if (get(deliveries_, row).value_or("") != bytes) return;
    rocksdb::WriteBatch batch;
    put(batch, quarantine_, quarantine_key(record), encode_damaged_record(record));
    if (!bytes.empty() || reason != "missing") erase(batch, deliveries_, row);
    erase(batch, pending_, row);
    if (due_entry) erase(batch, due_, *due_entry);
    write(batch);
  }

  // Moves the record of message `id` to the quarantine and takes every delivery of the
  // message out of the pending set and the due index: without its record none can be
  // attempted, and one quarantine entry says why.
  void quarantine_message(const std::string& id, std::string_view reason, std::string_view bytes) {
    const DamagedRecord record{kMessages, id, std::string(reason), std::string(bytes),
                               std::chrono::system_clock::now()};
    if (!can_quarantine(record)) return;
    std::lock_guard lock(message_lock(id));
    if (get(messages_, id).value_or("") != bytes) return;
    rocksdb::WriteBatch batch;
    put(batch, quarantine_, quarantine_key(record), encode_damaged_record(record));
    if (!bytes.empty() || reason != "missing") erase(batch, messages_, id);
    scan_rows(deliveries_, id, [&](std::string_view row, std::string_view value) {
      erase(batch, pending_, row);
      try {
        const Delivery delivery = decode_delivery(value);
        if (has_due_entry(delivery)) erase(batch, due_, due_key(DuePosition::of(delivery)));
      } catch (const StoreError&) {
        // Its due entry, if any, is dropped as stale when read.
      }
    });
    write(batch);
  }

  // Logs the damage; false when the store cannot move it (read-only: the record is skipped
  // and stays where it is for the daemon to move).
  bool can_quarantine(const DamagedRecord& record) {
    if (mode_ == StoreMode::read_only || quarantine_ == nullptr) {
      spdlog::error("store: {} {} is damaged ({}); skipped", record.family, record.key,
                    record.reason);
      return false;
    }
    spdlog::error("store: {} {} is damaged ({}); moved to the quarantine and skipped",
                  record.family, record.key, record.reason);
    return true;
  }

  // Drops the due entry `key` whose delivery no longer belongs there (an index left behind
  // by a record quarantined from the pending set, or moved while the entry was read).
  void drop_due_entry(const std::string& key, const std::optional<std::string>& message_id,
                      std::string_view why) {
    if (mode_ == StoreMode::read_only) return;
    std::unique_lock<std::mutex> lock;
    if (message_id) lock = std::unique_lock(message_lock(*message_id));
    // Read again under the lock: the entry may have become true since.
    if (const auto position = parse_due_key(key)) {
      const auto value = get(deliveries_, delivery_key(position->message_id, position->index));
      try {
        if (value) {
          const Delivery delivery = decode_delivery(*value);
          if (has_due_entry(delivery) && DuePosition::of(delivery) == *position) return;
        }
      } catch (const StoreError&) {
        // Damaged: the entry goes all the same; the pending walk quarantines the record.
      }
    }
    spdlog::warn("store: dropped a stale due entry ({})", why);
    rocksdb::WriteBatch batch;
    erase(batch, due_, key);
    write(batch);
  }

  // --- plumbing ------------------------------------------------------------------------------

  void require_writable() const {
    if (mode_ == StoreMode::read_only) throw StoreError("store is open read-only");
  }

  void write(rocksdb::WriteBatch& batch) {
    rocksdb::WriteOptions options;
    // The write returns only once the WAL is fsync'd: without it a crash loses writes we
    // already acknowledged (a "250 queued", a delivery recorded as done). Concurrent synced
    // writes join one write group and share the fsync (DESIGN.md section 5), which is why
    // no lock of ours serialises them.
    options.sync = true;
    const rocksdb::Status status = db_->Write(options, &batch);
    if (!status.ok()) throw StoreError("store write failed: " + status.ToString());
  }

  std::optional<std::string> get(rocksdb::ColumnFamilyHandle* family, std::string_view key) {
    std::string value;
    const rocksdb::Status status = db_->Get({}, family, slice(key), &value);
    if (status.IsNotFound()) return std::nullopt;
    if (!status.ok()) throw StoreError("store read failed: " + status.ToString());
    return value;
  }

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
  std::vector<std::unique_lock<std::mutex>> lock_messages(
      const std::vector<std::string_view>& ids) {
    std::vector<size_t> indices;
    for (const auto id : ids) indices.push_back(lock_index(id));
    std::sort(indices.begin(), indices.end());
    indices.erase(std::unique(indices.begin(), indices.end()), indices.end());
    std::vector<std::unique_lock<std::mutex>> locks;
    for (const size_t i : indices) locks.emplace_back(message_locks_[i]);
    return locks;
  }

  std::unique_ptr<ScratchDirectory> scratch_;  // read_only only; removed after db_ is gone
  StoreMode mode_;
  // Null when not open: content when read-only, the layout-2 indexes when read-only over a
  // store not yet migrated.
  rocksdb::ColumnFamilyHandle* messages_;
  rocksdb::ColumnFamilyHandle* content_;
  rocksdb::ColumnFamilyHandle* deliveries_;
  rocksdb::ColumnFamilyHandle* ledger_;
  rocksdb::ColumnFamilyHandle* pending_;
  rocksdb::ColumnFamilyHandle* due_;
  rocksdb::ColumnFamilyHandle* finished_;
  rocksdb::ColumnFamilyHandle* quarantine_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  LedgerSequence sequence_;
  std::array<std::mutex, 64> message_locks_;
};

}  // namespace

std::unique_ptr<Store> open_rocksdb_store(const std::filesystem::path& directory, StoreMode mode) {
  if (mode == StoreMode::read_write) {
    OpenDatabase opened = open_read_write(directory);
    migrate_to_current_layout(opened);
    return std::make_unique<RocksDbStore>(std::move(opened), mode, nullptr);
  }
  auto scratch = std::make_unique<ScratchDirectory>();
  OpenDatabase opened = open_read_only(directory, scratch->path());
  return std::make_unique<RocksDbStore>(std::move(opened), mode, std::move(scratch));
}

}  // namespace herald
