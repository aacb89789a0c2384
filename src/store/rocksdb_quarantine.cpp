// The quarantine of the RocksDB store: its records, and moving damaged ones there
// (store/rocksdb_store.h).
#include "store/rocksdb_quarantine.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "store/record_codec.h"
#include "store/rocksdb_store.h"

namespace herald::store_layout {
namespace json = boost::json;

std::string encode_damaged_record(const DamagedRecord& record) {
  json::object object;
  object["family"] = record.family;
  object["key"] = record.key;
  object["reason"] = record.reason;
  object["bytes"] = record.bytes;
  object["found_at"] = to_unix_ms(record.found_at);
  return json::serialize(object);
}

DamagedRecord decode_damaged_record(std::string_view text) {
  json::parse_options options;
  // The bytes of a damaged record need not be UTF-8; they were written as they were.
  options.allow_invalid_utf8 = true;
  boost::system::error_code ec;
  const json::value value =
      json::parse(json::string_view(text.data(), text.size()), ec, {}, options);
  const json::object* object = ec ? nullptr : value.if_object();
  const auto text_of = [&](std::string_view name) -> std::string {
    const json::value* field = object == nullptr ? nullptr : object->if_contains(name);
    if (field == nullptr || !field->is_string()) {
      throw StoreError("stored quarantine record: field '" + std::string(name) +
                       "' is missing or not a string");
    }
    return std::string(field->get_string());
  };
  DamagedRecord record;
  record.family = text_of("family");
  record.key = text_of("key");
  record.reason = text_of("reason");
  record.bytes = text_of("bytes");
  const json::value* found_at = object->if_contains("found_at");
  if (found_at == nullptr || !found_at->is_int64()) {
    throw StoreError("stored quarantine record: field 'found_at' is missing or not an integer");
  }
  record.found_at = from_unix_ms(found_at->get_int64());
  return record;
}

std::vector<DamagedRecord> RocksDbStore::damaged_records(size_t limit) {
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

void RocksDbStore::quarantine_delivery(const std::string& row, std::string_view reason,
                                       std::optional<std::string_view> bytes,
                                       const std::optional<std::string>& due_entry) {
  const DamagedRecord record{kDeliveries, row, std::string(reason), std::string(bytes.value_or("")),
                             std::chrono::system_clock::now()};
  if (!can_quarantine(record)) return;
  const auto key = parse_delivery_key(row);
  std::lock_guard lock(message_lock(key ? key->message_id : row));
  // An update may have replaced it since it was read; then there is nothing to move.
  if (get(deliveries_, row) != bytes) return;
  rocksdb::WriteBatch batch;
  put(batch, quarantine_, quarantine_key(record), encode_damaged_record(record));
  if (bytes) erase(batch, deliveries_, row);
  erase(batch, pending_, row);
  if (due_entry) erase(batch, due_, *due_entry);
  write(batch);
  log_quarantined(record);
}

void RocksDbStore::quarantine_message(const std::string& id, std::string_view reason,
                                      std::optional<std::string_view> bytes) {
  const DamagedRecord record{kMessages, id, std::string(reason), std::string(bytes.value_or("")),
                             std::chrono::system_clock::now()};
  if (!can_quarantine(record)) return;
  std::lock_guard lock(message_lock(id));
  if (get(messages_, id) != bytes) return;
  rocksdb::WriteBatch batch;
  put(batch, quarantine_, quarantine_key(record), encode_damaged_record(record));
  if (bytes) erase(batch, messages_, id);
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
  log_quarantined(record);
}

bool RocksDbStore::can_quarantine(const DamagedRecord& record) const {
  if (mode_ == StoreMode::read_write && quarantine_ != nullptr) return true;
  spdlog::error("store: {} {} is damaged ({}); skipped, left for heraldd to move aside",
                record.family, record.key, record.reason);
  return false;
}

void RocksDbStore::log_quarantined(const DamagedRecord& record) {
  spdlog::error("store: {} {} is damaged ({}); moved to the quarantine and skipped", record.family,
                record.key, record.reason);
}

void RocksDbStore::drop_due_entry(const std::string& key,
                                  const std::optional<std::string>& message_id,
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
  const auto position = parse_due_key(key);
  spdlog::warn("store: dropped a stale due entry of {} ({})",
               position ? delivery_key(position->message_id, position->index) : "(malformed)", why);
  rocksdb::WriteBatch batch;
  erase(batch, due_, key);
  write(batch);
}

}  // namespace herald::store_layout
