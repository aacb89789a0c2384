// Opening the RocksDB database behind the store (internal to src/store): where it lives, the
// lock that keeps a second daemon out, and the secondary instance the CLI reads through.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/env.h>

#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include "store/store.h"

namespace herald::store_layout {

// A scratch directory the secondary (read-only) instance writes its info log into; removed
// when the object goes.
class ScratchDirectory {
 public:
  ScratchDirectory();
  ~ScratchDirectory();
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// An open database and its column family handles, destroyed before the database when the
// owner lets them go (moves them out) or on the way out of a failed open.
struct OpenDatabase {
  OpenDatabase() = default;
  OpenDatabase(OpenDatabase&&) = default;
  OpenDatabase& operator=(OpenDatabase&&) = default;
  ~OpenDatabase();

  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;

  // The handle of the named family; null when it is not open.
  rocksdb::ColumnFamilyHandle* family(std::string_view name) const;
};

// Creates the store (directories made durable) when absent, and every family of
// store/rocksdb_layout.h that is missing. RocksDB reaches its files through `env` (the
// directories above are made with plain POSIX calls). Exclusive: throws StoreError naming the
// other process when one holds the store, or saying what failed. Memtables of all families
// together hold at most about `memtable_budget` octets before one is flushed.
OpenDatabase open_read_write(const std::filesystem::path& directory, rocksdb::Env* env,
                             size_t memtable_budget);

// What heraldd's memtables may hold, all families together: bodies pass through as they
// arrive (1 GiB of DATA in flight is 4,096 pieces of 256 KiB), and records are small.
inline constexpr size_t kMemtableBudget = size_t{32} << 20;

// open_rocksdb_store(directory, StoreMode::read_write) with RocksDB's files reached through
// `env`, which must outlive the store, and, unless `memtable_budget` is 0, that memtable
// budget instead of kMemtableBudget: how the power-loss tests put a file system that forgets
// unsynced writes under the store, and make it flush, compact and switch WAL files while
// they write. Production passes rocksdb::Env::Default() and 0.
std::unique_ptr<Store> open_read_write_store(const std::filesystem::path& directory,
                                             rocksdb::Env* env, size_t memtable_budget);

// A secondary instance over the store in `directory`, with every family of the layout that
// exists there except content: a store not yet migrated to layout 2 has no due, finished or
// quarantine family, and those stay unopened (null). Throws StoreError when there is no
// store or it cannot be opened.
OpenDatabase open_read_only(const std::filesystem::path& directory,
                            const std::filesystem::path& scratch);

}  // namespace herald::store_layout
