// The RocksDB store's reads through the due index and the pending set, which quarantine
// what they cannot decode and go on (store/rocksdb_store.h).
#include <limits>
#include <map>

#include "store/record_codec.h"
#include "store/rocksdb_store.h"

namespace herald::store_layout {

std::vector<DueDelivery> RocksDbStore::due_deliveries(const DuePosition& after, TimePoint until,
                                                      size_t limit) {
  std::vector<DueDelivery> out;
  // A store not yet migrated, read by the CLI, has no index to read in this layout.
  if (due_ == nullptr || limit == 0) return out;
  const std::string start = due_key(after);
  // Past every entry of the transport's band due at `until` (what follows the time is a
  // message id, which is ASCII) and before any due later, of another band or of another
  // transport. As the iterator's bound it also spares RocksDB stepping over the deleted
  // entries beyond it.
  const std::string bound = due_prefix(after.transport, after.band) + encode_time(until) + "\xff";
  const rocksdb::Slice bound_slice = slice(bound);
  rocksdb::ReadOptions options;
  options.iterate_upper_bound = &bound_slice;
  // A message's record, read once per call; null when it is damaged or missing.
  std::map<std::string, std::shared_ptr<const MessageRecord>, std::less<>> records;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, due_));
  for (it->Seek(slice(start)); it->Valid() && out.size() < limit; it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (key == start) continue;
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
      // The record is damaged or missing: quarantining it took every delivery of the message
      // out of the index.
      continue;
    }
    out.push_back({found->second, std::move(*delivery)});
  }
  check(it->status());
  return out;
}

std::vector<Delivery> RocksDbStore::unfinished_deliveries(const std::optional<DeliveryKey>& after,
                                                          size_t limit) {
  std::vector<Delivery> out;
  const std::string start = after ? delivery_key(after->message_id, after->index) : "";
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, pending_));
  for (it->Seek(slice(start)); it->Valid() && out.size() < limit; it->Next()) {
    const std::string key = it->key().ToString();
    if (after && key == start) continue;
    auto value = get(deliveries_, key);
    if (!value) {
      quarantine_delivery(key, "missing", std::nullopt, std::nullopt);
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

std::optional<Delivery> RocksDbStore::due_delivery(const DuePosition& position,
                                                   const std::string& key) {
  const std::string row = delivery_key(position.message_id, position.index);
  const auto value = get(deliveries_, row);
  if (!value) {
    if (get(pending_, row)) {
      quarantine_delivery(row, "missing", std::nullopt, key);
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

std::shared_ptr<const MessageRecord> RocksDbStore::message_record(const std::string& id) {
  const auto value = get(messages_, id);
  if (!value) {
    quarantine_message(id, "missing", std::nullopt);
    return nullptr;
  }
  try {
    return std::make_shared<const MessageRecord>(decode_message_record(*value));
  } catch (const StoreError& error) {
    quarantine_message(id, error.what(), *value);
    return nullptr;
  }
}

}  // namespace herald::store_layout
