// Shared by the store's tests: records made to order, and raw RocksDB access to a closed
// store, for writing what a damaged disk or an older herald leaves and for looking at keys
// the Store interface does not show.
#pragma once

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "store/store.h"

namespace herald::test_support {

inline const TimePoint kStoreT0 = from_unix_ms(1'700'000'000'000);

inline MessageRecord stored_message(std::string id, TimePoint received_at = kStoreT0) {
  MessageRecord m;
  m.id = std::move(id);
  m.received_at = received_at;
  m.size = 11;
  m.envelope.mail_from = "sender@example.org";
  m.envelope.rcpt_to = {"alice@example.test"};
  m.envelope.peer_ip = "127.0.0.1";
  return m;
}

inline Delivery stored_delivery(const MessageRecord& m, uint32_t index, TimePoint next_attempt,
                                std::string transport = "local") {
  Delivery d;
  d.message_id = m.id;
  d.index = index;
  d.recipient = "rcpt" + std::to_string(index) + "@example.test";
  d.mailbox = d.recipient;
  d.transport = std::move(transport);
  d.next_attempt = next_attempt;
  d.priority = m.qos.priority;
  return d;
}

inline LedgerEvent event_at(TimePoint at, std::string type) {
  LedgerEvent e;
  e.at = at;
  e.type = std::move(type);
  return e;
}

// "ID/INDEX" of each, in order.
inline std::vector<std::string> keys_of(const std::vector<DueDelivery>& due) {
  std::vector<std::string> out;
  for (const auto& d : due) {
    out.push_back(d.delivery.message_id + "/" + std::to_string(d.delivery.index));
  }
  return out;
}

// Every due delivery of `transport` due at or before `until`, as the queue reads them: each
// band from its start, highest priority first, `slice` at a time.
inline std::vector<DueDelivery> due_in_every_band(Store& store, const std::string& transport,
                                                  TimePoint until, size_t slice = 1000) {
  std::vector<DueDelivery> out;
  for (uint8_t band = 0; band < DuePosition::kBands; ++band) {
    DuePosition after = DuePosition::start_of(transport, band);
    for (;;) {
      std::vector<DueDelivery> read = store.due_deliveries(after, until, slice);
      if (read.empty()) break;
      after = DuePosition::of(read.back().delivery);
      for (DueDelivery& d : read) out.push_back(std::move(d));
    }
  }
  return out;
}

// A RocksDB database opened directly, with the families given (create them when missing)
// or, when none are given, every family it has. Closed when the object goes.
class RawRocksDb {
 public:
  explicit RawRocksDb(const std::filesystem::path& directory,
                      std::vector<std::string> families = {}) {
    rocksdb::DBOptions options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    if (families.empty()) {
      EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(options, directory.string(), &families).ok());
    }
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& name : families)
      descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
    rocksdb::DB* db = nullptr;
    const rocksdb::Status status =
        rocksdb::DB::Open(options, directory.string(), descriptors, &handles_, &db);
    if (!status.ok()) throw std::runtime_error("raw open: " + status.ToString());
    db_.reset(db);
  }
  ~RawRocksDb() {
    for (auto* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
    db_->Close();
  }

  bool has_family(const std::string& name) const { return handle_or_null(name) != nullptr; }

  void put(const std::string& family, const std::string& key, const std::string& value) {
    ASSERT_TRUE(db_->Put({}, handle(family), key, value).ok());
  }
  void erase(const std::string& family, const std::string& key) {
    ASSERT_TRUE(db_->Delete({}, handle(family), key).ok());
  }
  std::vector<std::string> keys(const std::string& family) {
    std::vector<std::string> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, handle(family)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) out.push_back(it->key().ToString());
    return out;
  }

 private:
  rocksdb::ColumnFamilyHandle* handle_or_null(const std::string& name) const {
    for (auto* h : handles_) {
      if (h->GetName() == name) return h;
    }
    return nullptr;
  }
  rocksdb::ColumnFamilyHandle* handle(const std::string& name) const {
    auto* h = handle_or_null(name);
    if (h == nullptr) throw std::runtime_error("no family " + name);
    return h;
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

}  // namespace herald::test_support
