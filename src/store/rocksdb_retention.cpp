// Removing finished messages from the RocksDB store (store/rocksdb_store.h).
#include <spdlog/spdlog.h>

#include "store/rocksdb_store.h"

namespace herald::store_layout {
namespace {

// Messages per write when removing finished ones: each brings its record, deliveries and
// ledger, some ten keys, so a write stays a few thousand keys.
constexpr size_t kRemovalsPerWrite = 256;

}  // namespace

size_t RocksDbStore::remove_finished(TimePoint before, size_t limit) {
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

size_t RocksDbStore::remove_messages(const std::vector<std::string>& finished_keys) {
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
    erase_content(batch, id);
    for (auto* family : {deliveries_, ledger_}) {
      scan_rows(family, id,
                [&](std::string_view row, std::string_view) { erase(batch, family, row); });
    }
    ++removed;
  }
  write(batch);
  return removed;
}

}  // namespace herald::store_layout
