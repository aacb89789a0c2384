#include "store/rocksdb_database.h"

#include <fcntl.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "store/rocksdb_layout.h"

namespace herald::store_layout {
namespace {

// RocksDB's own log goes to herald's, not to a LOG file in the store. That file is the
// first thing to fail on a full disk, and Debian's RocksDB 7.8 aborts the process on the
// next line written after a failed one (an assertion in WritableFileWriter); through
// spdlog, a full disk is the ordinary IO error of the write that met it.
class SpdlogLogger final : public rocksdb::Logger {
 public:
  SpdlogLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL) {}

  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }

  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char line[1024];
    std::vsnprintf(line, sizeof line, format, ap);
    // Its informational lines (flushes, compactions, statistics) are for debugging.
    switch (level) {
      case rocksdb::InfoLogLevel::WARN_LEVEL:
        spdlog::warn("store: rocksdb: {}", line);
        break;
      case rocksdb::InfoLogLevel::ERROR_LEVEL:
      case rocksdb::InfoLogLevel::FATAL_LEVEL:
        spdlog::error("store: rocksdb: {}", line);
        break;
      default:
        spdlog::debug("store: rocksdb: {}", line);
    }
  }
};

rocksdb::DBOptions database_options(StoreMode mode, rocksdb::Env* env = rocksdb::Env::Default(),
                                    size_t memtable_budget = kMemtableBudget) {
  rocksdb::DBOptions options;
  options.env = env;
  options.create_if_missing = mode == StoreMode::read_write;
  options.create_missing_column_families = mode == StoreMode::read_write;
  options.info_log = std::make_shared<SpdlogLogger>();
  // Past this much WAL, RocksDB flushes the column families holding the oldest of it, so the
  // WAL is recycled. Kept small because every `herald` command replays the whole WAL when it
  // opens the store as a secondary: at 256 MiB a `queue show` took most of a second.
  options.max_total_wal_size = 32ull << 20;
  // One budget for every family's memtables (rocksdb_layout.cpp says why it alone flushes).
  options.db_write_buffer_size = memtable_budget;
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

// The families of the layout (content left out: RocksDB's secondary instances cannot read
// blob files, 7.8 crashes on it and the BlobDB wiki lists it as unsupported) that the store
// has. A secondary open naming a family the primary never created fails, and the CLI must
// read a store that a daemon of layout 1 still runs on.
std::vector<rocksdb::ColumnFamilyDescriptor> existing_families(
    const std::filesystem::path& directory) {
  std::vector<std::string> names;
  const rocksdb::Status status =
      rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), directory.string(), &names);
  if (!status.ok()) {
    throw StoreError("cannot open store " + directory.string() +
                     " for reading: " + status.ToString());
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> families = column_families(false, kMemtableBudget);
  std::erase_if(families, [&](const rocksdb::ColumnFamilyDescriptor& family) {
    return std::find(names.begin(), names.end(), family.name) == names.end();
  });
  return families;
}

}  // namespace

ScratchDirectory::ScratchDirectory() {
  std::string pattern = (std::filesystem::temp_directory_path() / "herald-store-XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw StoreError("cannot create a scratch directory in " +
                     std::filesystem::temp_directory_path().string() + ": " + std::strerror(errno));
  }
  path_ = pattern;
}

ScratchDirectory::~ScratchDirectory() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

OpenDatabase::~OpenDatabase() {
  if (db == nullptr) return;
  for (auto* handle : handles) db->DestroyColumnFamilyHandle(handle);
}

rocksdb::ColumnFamilyHandle* OpenDatabase::family(std::string_view name) const {
  for (auto* handle : handles) {
    if (handle->GetName() == name) return handle;
  }
  return nullptr;
}

OpenDatabase open_read_write(const std::filesystem::path& directory, rocksdb::Env* env,
                             size_t memtable_budget) {
  create_directory_durably(directory);
  OpenDatabase opened;
  rocksdb::DB* db = nullptr;
  const rocksdb::Status status =
      rocksdb::DB::Open(database_options(StoreMode::read_write, env, memtable_budget),
                        directory.string(), column_families(true, memtable_budget),
                        &opened.handles, &db);
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
    status = rocksdb::DB::OpenAsSecondary(database_options(StoreMode::read_only),
                                          directory.string(), scratch.string(),
                                          existing_families(directory), &opened.handles, &db);
    if (status.ok()) {
      opened.db.reset(db);
      return opened;
    }
    // The daemon may have deleted a file (a finished compaction) or added a family (its
    // migration) between our reading of the manifest and opening; the next try sees the new
    // manifest.
  }
  throw StoreError("cannot open store " + directory.string() +
                   " for reading: " + status.ToString());
}

}  // namespace herald::store_layout
