// The embedded Store backend (DESIGN.md section 8): one RocksDB database with a column
// family per kind of record and per index, laid out as store/rocksdb_layout.h says. This
// file keeps the indexes true on every write.
#include "store/rocksdb_store.h"

#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "store/record_codec.h"
#include "store/rocksdb_migration.h"

namespace herald {
namespace store_layout {
namespace {

void require_own_deliveries(const MessageRecord& message, const std::vector<Delivery>& deliveries) {
  for (const Delivery& d : deliveries) {
    if (d.message_id != message.id) {
      throw std::invalid_argument("delivery of message " + d.message_id +
                                  " committed with message " + message.id);
    }
    // Its due entry is filed under this priority; a delivery that disagreed with its message
    // would be read in the wrong band.
    if (d.priority != message.qos.priority) {
      throw std::invalid_argument("delivery " + d.message_id + "/" + std::to_string(d.index) +
                                  " has priority " + std::to_string(d.priority) + ", its message " +
                                  std::to_string(message.qos.priority));
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

TimePoint finish_time(const MessageChange& change) {
  return change.latest_event.value_or(std::chrono::system_clock::now());
}

}  // namespace

void RocksDbStore::commit_message(const MessageRecord& message, const ContentToCommit& content,
                                  const std::vector<Delivery>& deliveries,
                                  const std::vector<LedgerEvent>& events) {
  require_writable();
  require_own_deliveries(message, deliveries);
  // One batch: a crash leaves all of the message or none of it, never a record without
  // its content, or a delivery missing from the pending set that a restart resumes.
  // Commits take no message lock: nothing else can know the new id yet.
  rocksdb::WriteBatch batch;
  add_message(batch, message, content, deliveries, events);
  write(batch);
}

void RocksDbStore::update_delivery(const Delivery& delivery,
                                   const std::vector<LedgerEvent>& events) {
  StoreWrite one;
  one.updates.push_back({delivery, events});
  apply(one);
}

void RocksDbStore::append_event(std::string_view message_id, const LedgerEvent& event) {
  require_writable();
  rocksdb::WriteBatch batch;
  add_event(batch, message_id, event);
  write(batch);
}

void RocksDbStore::apply(const StoreWrite& parts) {
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
  std::unique_lock<std::mutex> mqtt_lock;
  if (has_mqtt_parts(parts)) mqtt_lock = std::unique_lock(mqtt_lock_);

  rocksdb::WriteBatch batch;
  for (const auto& m : parts.messages) {
    add_message(batch, m.record, m.content, m.deliveries, m.events);
  }
  add_updates(batch, parts);
  for (const auto& e : parts.events) add_event(batch, e.message_id, e.event);
  // In the same batch: a retained message and the message it was published as, or a session
  // and the copies queued for it, are stored together or not at all.
  add_mqtt_parts(batch, parts);
  write(batch);
}

std::optional<MessageRecord> RocksDbStore::message(std::string_view id) {
  auto value = get(messages_, id);
  if (!value) return std::nullopt;
  return decode_message_record(*value);
}

std::vector<Delivery> RocksDbStore::deliveries(std::string_view id) {
  std::vector<Delivery> out;
  scan_rows(deliveries_, id, [&](std::string_view, std::string_view value) {
    out.push_back(decode_delivery(value));
  });
  return out;
}

std::vector<LedgerEvent> RocksDbStore::ledger(std::string_view id) {
  std::vector<LedgerEvent> out;
  scan_rows(ledger_, id, [&](std::string_view, std::string_view value) {
    out.push_back(decode_ledger_event(value));
  });
  return out;
}

void RocksDbStore::for_each_message(const std::function<bool(const MessageRecord&)>& visit) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, messages_));
  for (it->SeekToLast(); it->Valid(); it->Prev()) {
    if (!visit(decode_message_record(it->value().ToStringView()))) return;
  }
  check(it->status());
}

void RocksDbStore::add_message(rocksdb::WriteBatch& batch, const MessageRecord& message,
                               const ContentToCommit& content,
                               const std::vector<Delivery>& deliveries,
                               const std::vector<LedgerEvent>& events) {
  const MessageRecord stored = add_content(batch, message, content);
  put(batch, messages_, message.id, encode_message_record(stored));
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
  // as for every commit, until retention removes it). So is an MQTT message that no
  // persistent session gets a copy of, retained or not: its retained form is whole in
  // mqtt_retained, and outlives the message's removal.
  if (!any_pending) put(batch, finished_, finished_key(finish_time(change), message.id), "");
}

void RocksDbStore::add_event(rocksdb::WriteBatch& batch, std::string_view message_id,
                             const LedgerEvent& event) {
  put(batch, ledger_, ledger_key(message_id, sequence_.next()), encode_ledger_event(event));
}

void RocksDbStore::add_updates(rocksdb::WriteBatch& batch, const StoreWrite& parts) {
  // The later update of a delivery updated twice wins; each one's events are kept.
  std::map<std::string, const Delivery*> latest;
  std::map<std::string, MessageChange, std::less<>> changes;
  // The deliveries this write commits, which later parts of it may update.
  CommittedDeliveries committed;
  if (!parts.updates.empty()) {
    for (const auto& m : parts.messages) {
      for (const Delivery& d : m.deliveries) committed[delivery_key(d.message_id, d.index)] = &d;
    }
  }
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
    const std::optional<Delivery> before = stored_delivery(key, committed);
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
    const auto [pending_before, others_pending] =
        pending_outside(id, change.updated_keys, committed);
    if (others_pending) continue;
    // No delivery left pending: the content goes in the same batch, so a crash cannot drop
    // it under a delivery that still needs it. The message finishes only in the write that
    // takes its last pending delivery; updating a delivery already final changes nothing.
    if (change.any_terminal) erase_content(batch, id, pieces_committed_in(parts, id));
    if (pending_before) put(batch, finished_, finished_key(finish_time(change), id), "");
  }
}

std::optional<Delivery> RocksDbStore::stored_delivery(const std::string& key,
                                                      const CommittedDeliveries& committed) {
  if (const auto found = committed.find(key); found != committed.end()) return *found->second;
  const auto value = get(deliveries_, key);
  if (!value) throw StoreError("no delivery " + key + " in the store to update");
  try {
    return decode_delivery(*value);
  } catch (const StoreError& error) {
    spdlog::warn("store: delivery {} was undecodable before this update: {}", key, error.what());
    return std::nullopt;
  }
}

std::pair<bool, bool> RocksDbStore::pending_outside(std::string_view id,
                                                    const std::set<std::string>& updated,
                                                    const CommittedDeliveries& committed) {
  bool before = false;
  const std::string prefix = rows_prefix(id);
  for (auto it = committed.lower_bound(prefix);
       it != committed.end() && it->first.starts_with(prefix); ++it) {
    if (is_terminal(it->second->state)) continue;
    before = true;
    if (!updated.contains(it->first)) return {true, true};
  }
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, pending_));
  for (it->Seek(slice(prefix)); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    before = true;
    if (!updated.contains(it->key().ToString())) return {true, true};
  }
  check(it->status());
  return {before, false};
}

void RocksDbStore::write(rocksdb::WriteBatch& batch) {
  rocksdb::WriteOptions options;
  // The write returns only once the WAL is fsync'd: without it a crash loses writes we
  // already acknowledged (a "250 queued", a delivery recorded as done). Concurrent synced
  // writes join one write group and share the fsync (DESIGN.md section 5), which is why
  // no lock of ours serialises them.
  options.sync = true;
  const rocksdb::Status status = db_->Write(options, &batch);
  if (!status.ok()) throw StoreError("store write failed: " + status.ToString());
}

void RocksDbStore::write_unsynced(rocksdb::WriteBatch& batch) {
  const rocksdb::Status status = db_->Write(rocksdb::WriteOptions(), &batch);
  if (!status.ok()) throw StoreError("store write failed: " + status.ToString());
}

std::optional<std::string> RocksDbStore::get(rocksdb::ColumnFamilyHandle* family,
                                             std::string_view key) {
  std::string value;
  const rocksdb::Status status = db_->Get({}, family, slice(key), &value);
  if (status.IsNotFound()) return std::nullopt;
  if (!status.ok()) throw StoreError("store read failed: " + status.ToString());
  return value;
}

std::vector<std::unique_lock<std::mutex>> RocksDbStore::lock_messages(
    const std::vector<std::string_view>& ids) {
  std::vector<size_t> indices;
  for (const auto id : ids) indices.push_back(lock_index(id));
  std::sort(indices.begin(), indices.end());
  indices.erase(std::unique(indices.begin(), indices.end()), indices.end());
  std::vector<std::unique_lock<std::mutex>> locks;
  for (const size_t i : indices) locks.emplace_back(message_locks_[i]);
  return locks;
}

namespace {

// A daemon of an older herald may still run on the store the CLI reads, or be migrating
// it: until the marker says the current layout, the due index holds keys of another form
// (or a mix), and the store reads as having none.
void leave_out_older_due_index(OpenDatabase& opened) {
  std::string layout;
  const rocksdb::Status status =
      opened.db->Get({}, opened.db->DefaultColumnFamily(), slice(kLayoutKey), &layout);
  if (!status.ok() && !status.IsNotFound()) {
    throw StoreError("cannot read the store's layout: " + status.ToString());
  }
  if (status.ok() && layout == kLayoutVersion) return;
  auto* due = opened.family(kDue);
  if (due == nullptr) return;
  std::erase(opened.handles, due);
  opened.db->DestroyColumnFamilyHandle(due);
}

}  // namespace

std::unique_ptr<Store> open_read_write_store(const std::filesystem::path& directory,
                                             rocksdb::Env* env, size_t memtable_budget) {
  OpenDatabase opened =
      open_read_write(directory, env, memtable_budget != 0 ? memtable_budget : kMemtableBudget);
  migrate_to_current_layout(opened);
  auto store = std::make_unique<RocksDbStore>(std::move(opened), StoreMode::read_write, nullptr);
  if (const size_t dropped = store->drop_arriving_bodies()) {
    spdlog::info("store: dropped {} message bodies a stop left half received", dropped);
  }
  return store;
}

}  // namespace store_layout

std::unique_ptr<Store> open_rocksdb_store(const std::filesystem::path& directory, StoreMode mode) {
  using namespace store_layout;
  if (mode == StoreMode::read_write) {
    return open_read_write_store(directory, rocksdb::Env::Default(), 0);
  }
  auto scratch = std::make_unique<ScratchDirectory>();
  OpenDatabase opened = open_read_only(directory, scratch->path());
  leave_out_older_due_index(opened);
  return std::make_unique<RocksDbStore>(std::move(opened), mode, std::move(scratch));
}

}  // namespace herald
