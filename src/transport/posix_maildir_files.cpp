#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "transport/maildir_files.h"

namespace herald {
namespace {

class PosixMaildirFile final : public MaildirFile {
 public:
  explicit PosixMaildirFile(int fd) : fd_(fd) {}
  ~PosixMaildirFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  PosixMaildirFile(const PosixMaildirFile&) = delete;
  PosixMaildirFile& operator=(const PosixMaildirFile&) = delete;

  int write(std::string_view bytes) override {
    while (!bytes.empty()) {
      const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return 0;
  }

  int sync() override { return ::fsync(fd_) == 0 ? 0 : errno; }

  int close() override {
    // The descriptor is gone whatever close() says (Linux): it is never closed twice.
    const int closed = ::close(fd_);
    fd_ = -1;
    return closed == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

}  // namespace

int PosixMaildirFiles::open_for_write(const std::filesystem::path& file,
                                      std::unique_ptr<MaildirFile>& opened) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return errno;
  opened = std::make_unique<PosixMaildirFile>(fd);
  return 0;
}

int PosixMaildirFiles::rename(const std::filesystem::path& from, const std::filesystem::path& to) {
  return ::rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
}

int PosixMaildirFiles::unlink(const std::filesystem::path& file) {
  return ::unlink(file.c_str()) == 0 ? 0 : errno;
}

int PosixMaildirFiles::make_directory(const std::filesystem::path& dir) {
  return ::mkdir(dir.c_str(), 0700) == 0 ? 0 : errno;
}

int PosixMaildirFiles::sync_directory(const std::filesystem::path& dir, std::string& failed_step) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    failed_step = "open";
    return errno;
  }
  const int synced = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (synced != 0) {
    failed_step = "fsync";
    return error;
  }
  return 0;
}

int PosixMaildirFiles::look_up(const std::filesystem::path& entry) {
  struct stat st;
  return ::lstat(entry.c_str(), &st) == 0 ? 0 : errno;
}

int PosixMaildirFiles::scan_directory(const std::filesystem::path& dir,
                                      const std::function<bool(std::string_view name)>& visit,
                                      std::string& failed_step) {
  DIR* stream = ::opendir(dir.c_str());
  if (stream == nullptr) {
    failed_step = "opendir";
    return errno;
  }
  // readdir() returns NULL both at the end and on error; only errno tells them apart, so it
  // is cleared before each call (visit may have set it).
  int error = 0;
  for (;;) {
    errno = 0;
    const dirent* entry = ::readdir(stream);
    if (entry == nullptr) {
      error = errno;
      break;
    }
    if (visit(entry->d_name)) break;
  }
  ::closedir(stream);
  if (error != 0) failed_step = "readdir";
  return error;
}

MaildirFiles& posix_maildir_files() {
  static PosixMaildirFiles files;
  return files;
}

}  // namespace herald
