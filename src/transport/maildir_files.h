// The file operations Maildir delivery makes, behind an interface so that a test can put a
// disk that loses power under MaildirTransport (tests/unit/transport/power_loss_maildir_files.h)
// while production reaches POSIX directly (PosixMaildirFiles, posix_maildir_files.cpp).
//
// Errors are values: every call returns 0 or the errno of the system call that failed, read
// before anything else could overwrite it. The caller names the step in what it reports.
//
// Threading: the delivery pool calls one MaildirFiles from many threads at once, for the
// same and for different Maildirs; every call must be safe so. One MaildirFile is used by one
// thread at a time.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace herald {

// A file open for writing. Destroying it closes it if close() was not called (a failed
// delivery's file: the error is of no use then).
class MaildirFile {
 public:
  virtual ~MaildirFile() = default;

  // Writes all of `bytes` at the end of what was written (retrying short writes and EINTR).
  virtual int write(std::string_view bytes) = 0;
  // fsync(2): once it returns 0, every byte written before the call is on stable storage.
  virtual int sync() = 0;
  // close(2), once. Some file systems (NFS) report a lost write only here. Makes nothing
  // durable.
  virtual int close() = 0;
};

class MaildirFiles {
 public:
  virtual ~MaildirFiles() = default;

  // Opens `file` for writing, created (mode 0600) or truncated to empty, never through a
  // symbolic link. On 0, `opened` holds it.
  virtual int open_for_write(const std::filesystem::path& file,
                             std::unique_ptr<MaildirFile>& opened) = 0;
  // rename(2): atomic, replacing a file at `to`; durable only once `to`'s directory is synced.
  virtual int rename(const std::filesystem::path& from, const std::filesystem::path& to) = 0;
  // unlink(2); durable only once the directory is synced.
  virtual int unlink(const std::filesystem::path& file) = 0;
  // mkdir(2) with mode 0700 (mail is private); EEXIST when something has the name already.
  // The new entry is durable only once the parent directory is synced.
  virtual int make_directory(const std::filesystem::path& dir) = 0;
  // Makes the entries of `dir` durable: open(O_DIRECTORY), fsync(2), close. `failed_step`
  // names the step that failed ("open", "fsync"). Blocks on the disk.
  virtual int sync_directory(const std::filesystem::path& dir, std::string& failed_step) = 0;
  // lstat(2): 0 when `entry` exists (a symbolic link counts as itself), ENOENT when not.
  virtual int look_up(const std::filesystem::path& entry) = 0;
  // Calls `visit` with the name of each entry of `dir` (in no order, "." and ".." included)
  // until it returns true. `failed_step` names the step that failed ("opendir", "readdir").
  virtual int scan_directory(const std::filesystem::path& dir,
                             const std::function<bool(std::string_view name)>& visit,
                             std::string& failed_step) = 0;
};

// The real disk, through the system calls named above. Stateless; not final, so that a test
// can watch one call and forward to the real one.
class PosixMaildirFiles : public MaildirFiles {
 public:
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
};

// The one PosixMaildirFiles production uses; it lives as long as the process.
MaildirFiles& posix_maildir_files();

}  // namespace herald
