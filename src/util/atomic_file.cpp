#include "util/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace herald {

void write_file_atomically(const std::filesystem::path& path, std::string_view contents,
                           mode_t mode) {
  const std::filesystem::path temporary = path.string() + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    throw std::system_error(errno, std::generic_category(), "cannot write " + temporary.string());
  }
  size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      ::close(fd);
      throw std::system_error(error, std::generic_category(), "cannot write " + temporary.string());
    }
    written += static_cast<size_t>(n);
  }
  // Synced before the rename: otherwise a crash could leave the new name on empty content.
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) {
    throw std::system_error(errno, std::generic_category(), "cannot sync " + temporary.string());
  }
  std::filesystem::rename(temporary, path);
}

}  // namespace herald
