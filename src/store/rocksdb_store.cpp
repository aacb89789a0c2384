// The embedded Store backend (DESIGN.md section 8): one RocksDB database with a column
// family per kind of record. Keys start with the message id, which sorts by arrival time,
// so a message's rows lie together and messages come out oldest first:
//
//   messages     ID                -> MessageRecord (JSON, store/record_codec.h)
//   content      ID                -> the raw message, in blob files
//   deliveries   ID/INDEX          -> Delivery (JSON); INDEX is 10 decimal digits
//   ledger       ID/SEQUENCE       -> LedgerEvent (JSON); SEQUENCE is 20 decimal digits
//   pending      ID/INDEX          -> empty; present while that delivery is not terminal
#include <fcntl.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "store/record_codec.h"
#include "store/store.h"

namespace herald {
namespace {

constexpr const char* kMessages = "messages";
constexpr const char* kContent = "content";
constexpr const char* kDeliveries = "deliveries";
constexpr const char* kLedger = "ledger";
constexpr const char* kPending = "pending";

// Content this large or larger goes to blob files: compaction then moves a small pointer
// instead of rewriting the body each time a level is merged.
constexpr uint64_t kMinBlobSize = 2048;

std::string delivery_key(std::string_view message_id, uint32_t index) {
  char digits[11];
  std::snprintf(digits, sizeof digits, "%010u", index);
  return std::string(message_id) + "/" + digits;
}

std::string ledger_key(std::string_view message_id, uint64_t sequence) {
  char digits[21];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(sequence));
  return std::string(message_id) + "/" + digits;
}

std::string rows_prefix(std::string_view message_id) {
  return std::string(message_id) + "/";
}

rocksdb::Slice slice(std::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}

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

// A scratch directory the secondary (read-only) instance writes its info log into; removed
// when the store closes.
class ScratchDirectory {
 public:
  ScratchDirectory() {
    std::string pattern = (std::filesystem::temp_directory_path() / "herald-store-XXXXXX");
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw StoreError("cannot create a scratch directory in " +
                       std::filesystem::temp_directory_path().string() + ": " +
                       std::strerror(errno));
    }
    path_ = pattern;
  }
  ~ScratchDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct OpenDatabase {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
};

std::vector<rocksdb::ColumnFamilyDescriptor> column_families(StoreMode mode) {
  rocksdb::ColumnFamilyOptions plain;
  rocksdb::ColumnFamilyOptions content = plain;
  content.enable_blob_files = true;
  content.min_blob_size = kMinBlobSize;
  // Content is deleted once every delivery of its message is final; garbage collection
  // reclaims the blob files that then hold mostly dead bodies.
  content.enable_blob_garbage_collection = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, plain},
      {kMessages, plain},
      {kDeliveries, plain},
      {kLedger, plain},
      {kPending, plain},
  };
  // RocksDB's secondary instances cannot read blob files (7.8 crashes on it; the BlobDB wiki
  // lists it as unsupported), so a read-only store leaves the content family closed.
  if (mode == StoreMode::read_write) families.emplace_back(kContent, content);
  return families;
}

rocksdb::DBOptions database_options(StoreMode mode) {
  rocksdb::DBOptions options;
  options.create_if_missing = mode == StoreMode::read_write;
  options.create_missing_column_families = mode == StoreMode::read_write;
  options.keep_log_file_num = 5;
  // A column family written rarely (messages) would otherwise pin old WAL files until its
  // memtable fills; past this size RocksDB flushes it so the WAL can be recycled.
  options.max_total_wal_size = 256ull << 20;
  // Required by secondary instances, which must keep every table file they know open.
  if (mode == StoreMode::read_only) options.max_open_files = -1;
  return options;
}

bool is_lock_conflict(const rocksdb::Status& status) {
  return status.IsIOError() && status.ToString().find("LOCK") != std::string::npos;
}

void sync_directory(const std::filesystem::path& directory) {
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool synced = fd >= 0 && ::fsync(fd) == 0;
  const int error = errno;
  if (fd >= 0) ::close(fd);
  if (!synced) {
    throw StoreError("cannot sync directory " + directory.string() + ": " + std::strerror(error));
  }
}

// Creates `directory` and missing parents, each made durable in its parent: RocksDB syncs
// what is inside the store directory, not the store directory's own entry, which a power
// loss soon after the first start could otherwise take with every message accepted since.
void create_directory_durably(const std::filesystem::path& directory) {
  if (directory.empty() || std::filesystem::exists(directory)) return;
  create_directory_durably(directory.parent_path());
  std::error_code ec;
  std::filesystem::create_directory(directory, ec);
  if (ec) {
    throw StoreError("cannot create store directory " + directory.string() + ": " + ec.message());
  }
  sync_directory(directory.parent_path().empty() ? "." : directory.parent_path());
}

OpenDatabase open_read_write(const std::filesystem::path& directory) {
  create_directory_durably(directory);
  OpenDatabase opened;
  rocksdb::DB* db = nullptr;
  const rocksdb::Status status =
      rocksdb::DB::Open(database_options(StoreMode::read_write), directory.string(),
                        column_families(StoreMode::read_write), &opened.handles, &db);
  if (is_lock_conflict(status)) {
    throw StoreError(
        "store " + directory.string() +
        " is in use by another process (is heraldd already running?): " + status.ToString());
  }
  if (!status.ok()) {
    throw StoreError("cannot open store " + directory.string() + ": " + status.ToString());
  }
  opened.db.reset(db);
  return opened;
}

OpenDatabase open_read_only(const std::filesystem::path& directory,
                            const std::filesystem::path& scratch) {
  if (!std::filesystem::exists(directory / "CURRENT")) {
    throw StoreError("no store in " + directory.string() +
                     " (has heraldd run with this data_dir yet?)");
  }
  // A secondary instance, not OpenForReadOnly: RocksDB documents the latter as undefined
  // while a read-write instance (the running daemon) has the database open.
  rocksdb::Status status;
  for (int attempt = 0; attempt < 3; ++attempt) {
    OpenDatabase opened;
    rocksdb::DB* db = nullptr;
    status = rocksdb::DB::OpenAsSecondary(
        database_options(StoreMode::read_only), directory.string(), scratch.string(),
        column_families(StoreMode::read_only), &opened.handles, &db);
    if (status.ok()) {
      opened.db.reset(db);
      return opened;
    }
    // The daemon may have deleted a file (a finished compaction) between our reading of the
    // manifest and opening the file; the next try sees the new manifest.
  }
  throw StoreError("cannot open store " + directory.string() +
                   " for reading: " + status.ToString());
}

class RocksDbStore final : public Store {
 public:
  RocksDbStore(OpenDatabase opened, StoreMode mode, std::unique_ptr<ScratchDirectory> scratch)
      : scratch_(std::move(scratch)),
        db_(std::move(opened.db)),
        handles_(std::move(opened.handles)),
        mode_(mode),
        messages_(family(kMessages)),
        content_(family(kContent)),
        deliveries_(family(kDeliveries)),
        ledger_(family(kLedger)),
        pending_(family(kPending)) {}

  ~RocksDbStore() override {
    for (auto* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
    db_->Close();
  }

  void commit_message(const MessageRecord& message, std::string_view content,
                      const std::vector<Delivery>& deliveries,
                      const std::vector<LedgerEvent>& events) override {
    require_writable();
    // One batch: a crash leaves all of the message or none of it, never a record without
    // its content, or a delivery missing from the pending set that a restart resumes.
    rocksdb::WriteBatch batch;
    put(batch, messages_, message.id, encode_message_record(message));
    put(batch, content_, message.id, content);
    for (const Delivery& d : deliveries) {
      if (d.message_id != message.id) {
        throw std::invalid_argument("delivery of message " + d.message_id +
                                    " committed with message " + message.id);
      }
      const std::string key = delivery_key(d.message_id, d.index);
      put(batch, deliveries_, key, encode_delivery(d));
      if (!is_terminal(d.state)) put(batch, pending_, key, "");
    }
    for (const LedgerEvent& e : events) {
      put(batch, ledger_, ledger_key(message.id, sequence_.next()), encode_ledger_event(e));
    }
    write(batch);
  }

  using Store::update_delivery;
  void update_delivery(const Delivery& delivery, const std::vector<LedgerEvent>& events) override {
    require_writable();
    const std::string key = delivery_key(delivery.message_id, delivery.index);
    // Two deliveries of one message finishing at once must not both see the other still
    // pending (then the content would never be dropped): the check below and the write that
    // acts on it happen under the message's lock. Commits never take it.
    std::lock_guard lock(message_lock(delivery.message_id));
    if (!get(deliveries_, key)) {
      throw StoreError("no delivery " + key + " in the store to update");
    }
    rocksdb::WriteBatch batch;
    put(batch, deliveries_, key, encode_delivery(delivery));
    for (const LedgerEvent& event : events) {
      put(batch, ledger_, ledger_key(delivery.message_id, sequence_.next()),
          encode_ledger_event(event));
    }
    // The pending entry and the content go in the same batch as the final state: a crash
    // cannot leave a final delivery to be attempted again, or content dropped under a
    // delivery that still needs it.
    if (is_terminal(delivery.state)) {
      check(batch.Delete(pending_, key));
      if (!has_other_pending(delivery.message_id, key)) {
        check(batch.Delete(content_, delivery.message_id));
      }
    } else {
      put(batch, pending_, key, "");
    }
    write(batch);
  }

  void append_event(std::string_view message_id, const LedgerEvent& event) override {
    require_writable();
    rocksdb::WriteBatch batch;
    put(batch, ledger_, ledger_key(message_id, sequence_.next()), encode_ledger_event(event));
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
    scan_rows(deliveries_, id,
              [&](std::string_view value) { out.push_back(decode_delivery(value)); });
    return out;
  }

  std::vector<LedgerEvent> ledger(std::string_view id) override {
    std::vector<LedgerEvent> out;
    scan_rows(ledger_, id,
              [&](std::string_view value) { out.push_back(decode_ledger_event(value)); });
    return out;
  }

  std::vector<Delivery> pending_deliveries() override {
    std::vector<Delivery> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, pending_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string key = it->key().ToString();
      auto value = get(deliveries_, key);
      if (!value) throw StoreError("pending entry " + key + " has no delivery record");
      out.push_back(decode_delivery(*value));
    }
    check(it->status());
    return out;
  }

  void for_each_message(const std::function<bool(const MessageRecord&)>& visit) override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, messages_));
    for (it->SeekToLast(); it->Valid(); it->Prev()) {
      if (!visit(decode_message_record(it->value().ToStringView()))) return;
    }
    check(it->status());
  }

 private:
  // The handle of the named family; null when it is not open (content, when read-only).
  rocksdb::ColumnFamilyHandle* family(std::string_view name) const {
    for (auto* handle : handles_) {
      if (handle->GetName() == name) return handle;
    }
    return nullptr;
  }

  static void check(const rocksdb::Status& status) {
    if (!status.ok()) throw StoreError("store: " + status.ToString());
  }

  static void put(rocksdb::WriteBatch& batch, rocksdb::ColumnFamilyHandle* family,
                  std::string_view key, std::string_view value) {
    check(batch.Put(family, slice(key), slice(value)));
  }

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

  template <typename Visit>
  void scan_rows(rocksdb::ColumnFamilyHandle* family, std::string_view message_id, Visit visit) {
    const std::string prefix = rows_prefix(message_id);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, family));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      visit(it->value().ToStringView());
    }
    check(it->status());
  }

  bool has_other_pending(std::string_view message_id, std::string_view own_key) {
    bool found = false;
    const std::string prefix = rows_prefix(message_id);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, pending_));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (it->key().ToStringView() != own_key) {
        found = true;
        break;
      }
    }
    check(it->status());
    return found;
  }

  std::mutex& message_lock(std::string_view message_id) {
    return message_locks_[std::hash<std::string_view>{}(message_id) % message_locks_.size()];
  }

  std::unique_ptr<ScratchDirectory> scratch_;  // read_only only; removed after db_ is gone
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  StoreMode mode_;
  rocksdb::ColumnFamilyHandle* messages_;
  rocksdb::ColumnFamilyHandle* content_;
  rocksdb::ColumnFamilyHandle* deliveries_;
  rocksdb::ColumnFamilyHandle* ledger_;
  rocksdb::ColumnFamilyHandle* pending_;
  LedgerSequence sequence_;
  std::array<std::mutex, 64> message_locks_;
};

}  // namespace

std::unique_ptr<Store> open_rocksdb_store(const std::filesystem::path& directory, StoreMode mode) {
  if (mode == StoreMode::read_write) {
    return std::make_unique<RocksDbStore>(open_read_write(directory), mode, nullptr);
  }
  auto scratch = std::make_unique<ScratchDirectory>();
  OpenDatabase opened = open_read_only(directory, scratch->path());
  return std::make_unique<RocksDbStore>(std::move(opened), mode, std::move(scratch));
}

}  // namespace herald
