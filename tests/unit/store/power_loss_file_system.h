// A RocksDB FileSystem for tests that can lose power: it forwards every call to the default
// (POSIX) file system, follows what of it has been made durable, and on lose_power() puts the
// disk into the state a power failure at that moment could leave.
//
// The model is the pessimistic POSIX one, weaker than what ext4 (data=ordered) or XFS give:
//   - A file's bytes are durable up to the length it had at its last successful Sync or
//     Fsync. Nothing else makes bytes durable: not Close, not Flush, not RangeSync
//     (sync_file_range(2) promises no durability). Bytes past that length are lost.
//   - Creating, renaming and deleting a file are durable only once its directory is
//     fsync'd (FSDirectory::Fsync / FsyncWithDirOptions). Until then power loss undoes them,
//     latest first: a file created since disappears, a rename is reverted (the file it
//     replaced comes back), a deleted file comes back. A file whose truncation by
//     NewWritableFile (O_TRUNC) was not followed by a Sync comes back empty.
//   - Files that existed before this file system first saw them, and everything on disk
//     after lose_power(), count as durable whole.
// It does not model: torn or reordered writes (a Sync'd prefix is intact, and an unsynced
// tail is lost whole: never kept in part, never garbage); a rename across directories (it
// is durable with the target's directory); truncation of a file by name (durable at once);
// the directories herald makes itself with POSIX calls (store/rocksdb_database.cpp), outside
// RocksDB; an info LOG file (herald sends RocksDB's log to spdlog instead; NewLogger is
// forwarded untouched: diagnostics, not state). Random-access writes, hard links, log recycling and
// directory removal are forwarded and counted (unmodelled_calls()), so a test notices if RocksDB
// starts to use them.
//
// Power can fail in two ways, after a number of changing calls (Append, Sync, file creation,
// rename, delete, directory fsync...):
//   - fail_after: from then on each of those fails with an IOError and changes nothing, as if
//     the machine had stopped there. Reads keep working, so the process can wind down;
//     lose_power() is then called once nothing uses the file system any more. What a failed
//     open leaves is tested this way.
//   - stop_after: the machine stops. That call and every later one wait, without an answer,
//     while disk_after_power_failure() copies the disk as the failure leaves it; then they go
//     on as if nothing had happened, so the process never meets an error. RocksDB's error
//     paths are not what these tests are about, and Debian's RocksDB 7.8 (built with its
//     assertions) aborts on some of them: a flush that syncs a closed WAL whose last write
//     had failed (WritableFileWriter's "sync_without_flush_called_").
//
// Thread-safety: every call may come from any thread (RocksDB's writers and background
// threads); lose_power() must not run concurrently with anything else.
#pragma once

#include <rocksdb/file_system.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "support/power_switch.h"

namespace herald::test_support {

class PowerLossFileSystem : public rocksdb::FileSystemWrapper {
 public:
  // The bytes of one file as far as the model knows them. Guarded by the file system's mutex.
  struct FileState {
    uint64_t size = 0;    // bytes written through us
    uint64_t synced = 0;  // bytes durable
  };

  // `trash`: a directory (made when missing) on the same file system as the databases, where
  // deleted and replaced files wait until their removal is durable.
  explicit PowerLossFileSystem(std::filesystem::path trash);

  const char* Name() const override { return "PowerLossFileSystem"; }

  // Lets `operations` more changing calls through, then fails all later ones.
  void fail_after(uint64_t operations);
  // Lets `operations` more changing calls through, then holds all later ones until
  // disk_after_power_failure() has run.
  void stop_after(uint64_t operations);
  // Waits up to `timeout` for the stop of stop_after() with no changing call in progress.
  bool wait_for_stop(std::chrono::milliseconds timeout);
  // Whether the machine has stopped since the last stop_after() (its count ran out).
  bool stopped() const;
  // After wait_for_stop(): copies `directory` (a database this file system writes) to
  // `image` as a power failure at the stop leaves it, then lets the held calls go on.
  void disk_after_power_failure(const std::filesystem::path& directory,
                                const std::filesystem::path& image);
  // Fails every changing call from now on.
  void fail_now();
  bool failed() const;
  // Changing calls let through since construction or the last lose_power().
  uint64_t operations() const;

  // While on, Sync and Fsync answer OK without making anything durable (a disk that lies,
  // a build that skips its fsync): for showing that the tests catch a lost write.
  void set_syncs_ignored(bool ignored);

  // The power failure: undoes the directory changes not made durable, latest first, and
  // truncates every file to its durable length. Afterwards the file system works again and
  // all that is on disk counts as durable. Call only when no database uses it any more.
  void lose_power();

  // Calls to operations the model does not follow (see above).
  uint64_t unmodelled_calls() const;

  // --- rocksdb::FileSystem -----------------------------------------------------------------

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& fname,
                                       const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewRandomRWFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& options,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& fname, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& source, const std::string& target,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus LinkFile(const std::string& source, const std::string& target,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus Truncate(const std::string& fname, size_t size,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDir(const std::string& dirname, const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDirIfMissing(const std::string& dirname,
                                       const rocksdb::IOOptions& options,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteDir(const std::string& dirname, const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override;

  // --- for the file and directory wrappers (power_loss_file_system.cpp) --------------------

  // A changing call let through: the stop waits until none is in progress.
  class Admission {
   public:
    explicit Admission(PowerLossFileSystem* owner) : owner_(owner) {}
    Admission(const Admission&) = delete;
    Admission& operator=(const Admission&) = delete;
    ~Admission();
    explicit operator bool() const { return owner_ != nullptr; }

   private:
    PowerLossFileSystem* owner_;
  };
  // Whether a changing call may go ahead; false once power has failed. Holds the call while
  // the machine is stopped.
  Admission admit();
  bool syncs_ignored() const;
  // Records `bytes` more written to `file`, or its length set to `size` (Truncate).
  void grew(FileState& file, uint64_t bytes);
  void resized(FileState& file, uint64_t size);
  uint64_t size_of(const FileState& file) const;
  // Records the first `size` bytes of `file` as durable.
  void synced(FileState& file, uint64_t size);
  // Makes the changes to the entries of `directory` durable.
  void directory_synced(const std::filesystem::path& directory);

 private:
  // A directory change not yet durable, and how to undo it.
  struct Change {
    enum class Kind { created, renamed, deleted };
    Kind kind;
    std::filesystem::path path;                  // created, renamed to, deleted
    std::filesystem::path from;                  // renamed: the old name
    std::optional<std::filesystem::path> saved;  // the deleted or replaced file, in the trash
  };

  // A fresh name in the trash.
  std::filesystem::path trash_name();
  // The file state at `from`, if any, moved to `to` (replacing one there). Holds mutex_.
  void move_state(const std::filesystem::path& from, const std::filesystem::path& to);
  rocksdb::IOStatus make_directory(const std::string& dirname, bool only_if_missing,
                                   const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg);
  void count_unmodelled();
  // Where a file the model follows is on the disk being rolled back; nullopt: not on it.
  using Placement =
      std::function<std::optional<std::filesystem::path>(const std::filesystem::path&)>;
  // Deleted and replaced files come back from the trash moved (the disk itself) or copied
  // (a copy of it, the trash kept for the running store).
  enum class SavedFiles { move_back, copy_back };
  // Puts the disk `in_image` places files on into the state power loss leaves: directory
  // changes not made durable undone, latest first, and files cut to their synced length.
  // Changes nothing of the model. Holds mutex_.
  void roll_back(const Placement& in_image, SavedFiles saved_files);

  const std::filesystem::path trash_;
  mutable std::mutex mutex_;
  test_support::PowerSwitch power_;
  // The stop of stop_after(): admitted calls in progress, calls still let through before it,
  // whether it has come (and is not yet over), whether it ever came.
  mutable std::mutex stop_mutex_;
  std::condition_variable stop_changed_;
  uint64_t in_progress_ = 0;
  std::optional<uint64_t> until_stop_;
  bool stopped_now_ = false;
  bool stopped_ever_ = false;
  bool syncs_ignored_ = false;
  uint64_t unmodelled_ = 0;
  uint64_t trash_count_ = 0;
  // Every file written since the last lose_power(), by its current name.
  std::map<std::filesystem::path, std::shared_ptr<FileState>> files_;
  std::vector<Change> changes_;  // oldest first
};

// The path as this file system keys it: normal form, no trailing separator.
std::filesystem::path normal_path(const std::string& name);

}  // namespace herald::test_support
