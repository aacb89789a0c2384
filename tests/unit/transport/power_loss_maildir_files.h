// MaildirFiles for tests that can lose power: every call goes to the real disk (a directory
// tree under a test's temporary directory), and the model follows what of it has been made
// durable; lose_power() then puts the tree into the state a power failure at that moment
// could leave. The Maildir counterpart of the store's PowerLossFileSystem
// (tests/unit/store/power_loss_file_system.h), with the same pessimistic POSIX model, weaker
// than what ext4 (data=ordered) or XFS give:
//   - A file's bytes are durable up to the length it had when its last successful sync()
//     began. Nothing else makes bytes durable (not close()). Bytes past that are lost.
//     open_for_write() truncates: a file it truncated comes back empty unless synced since.
//   - Creating a file or directory, renaming and unlinking a file are durable only once a
//     sync_directory() of the directory holding the (new) name has completed that began
//     after the change. Until then power loss undoes them, latest first: what was created
//     disappears (a directory with all in it), a rename is reverted (a file it replaced comes
//     back), an unlinked file comes back.
//   - What existed before this object first saw it, and everything on disk after
//     lose_power(), counts as durable whole.
// It does not model: torn or reordered writes (a synced prefix is intact, an unsynced tail
// is lost whole, never kept in part); a rename across directories is durable with the
// target's directory alone (tmp/NAME -> new/NAME: once new/ is synced the file is in new/,
// and the old tmp/ entry is not brought back beside it).
//
// Power can be made to fail after a number of changing calls (open_for_write, write, sync,
// rename, unlink, make_directory, sync_directory): from then on each of those fails with EIO
// and changes nothing, as if the machine had stopped there. close(), look_up() and
// scan_directory() keep working, so that deliveries can wind down; lose_power() is then
// called once nothing uses the files any more.
//
// Thread-safety: every MaildirFiles call may come from any thread (the delivery pool);
// lose_power() must not run concurrently with anything else.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "support/power_switch.h"
#include "transport/maildir_files.h"

namespace herald::test_support {

class PowerLossMaildirFiles final : public MaildirFiles {
 public:
  // `trash`: a directory (made when missing) on the same file system as the Maildirs, where
  // unlinked and replaced files wait until their removal is durable.
  explicit PowerLossMaildirFiles(std::filesystem::path trash);

  // Lets `operations` more changing calls through, then fails all later ones.
  void fail_after(uint64_t operations);
  bool failed() const;
  // Changing calls let through since construction or the last lose_power().
  uint64_t operations() const;

  // The power failure: undoes the directory changes not made durable, latest first, and
  // truncates every file to its durable length. Afterwards the files work again and all that
  // is on disk counts as durable.
  void lose_power();

  // --- MaildirFiles -------------------------------------------------------------------------

  int open_for_write(const std::filesystem::path& file,
                     std::unique_ptr<MaildirFile>& opened) override;
  int rename(const std::filesystem::path& from, const std::filesystem::path& to) override;
  int unlink(const std::filesystem::path& file) override;
  int make_directory(const std::filesystem::path& dir) override;
  int sync_directory(const std::filesystem::path& dir, std::string& failed_step) override;
  int look_up(const std::filesystem::path& entry) override;
  int scan_directory(const std::filesystem::path& dir,
                     const std::function<bool(std::string_view name)>& visit,
                     std::string& failed_step) override;

  // --- for the files it opens (power_loss_maildir_files.cpp) --------------------------------

  // The bytes of one file as far as the model knows them. Guarded by the mutex.
  struct FileState {
    uint64_t size = 0;    // bytes written through us
    uint64_t synced = 0;  // bytes durable
  };
  // Whether a changing call may go ahead; false once power has failed.
  bool admit();
  void grew(FileState& file, uint64_t bytes);
  uint64_t size_of(const FileState& file) const;
  // Records the first `size` bytes of `file` as durable.
  void synced(FileState& file, uint64_t size);

 private:
  // A directory change not yet durable, and how to undo it.
  struct Change {
    enum class Kind { created, renamed, unlinked };
    Kind kind;
    uint64_t number;                             // in the order made, from 1
    std::filesystem::path path;                  // created, renamed to, unlinked
    std::filesystem::path from;                  // renamed: the old name
    std::optional<std::filesystem::path> saved;  // the unlinked or replaced file, in the trash
  };

  // Records a change not yet durable. Takes mutex_.
  void record(Change::Kind kind, std::filesystem::path path, std::filesystem::path from = {},
              std::optional<std::filesystem::path> saved = std::nullopt);
  std::filesystem::path trash_name();
  // The file state at `from`, if any, moved to `to` (replacing one there). Holds mutex_.
  void move_state(const std::filesystem::path& from, const std::filesystem::path& to);

  PosixMaildirFiles disk_;
  const std::filesystem::path trash_;
  mutable std::mutex mutex_;
  test_support::PowerSwitch power_;
  uint64_t trash_count_ = 0;
  uint64_t changes_made_ = 0;  // the number of the latest Change
  // Every file written since the last lose_power(), by its current name.
  std::map<std::filesystem::path, std::shared_ptr<FileState>> files_;
  std::vector<Change> changes_;  // oldest first
};

}  // namespace herald::test_support
