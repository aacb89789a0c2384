#include "server/control_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace herald {
namespace {

// Longer than any response line: an error text, bounded by what the daemon echoes back.
constexpr size_t kMaxResponse = 4096;

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::runtime_error failure(const std::filesystem::path& path, const std::string& what) {
  return std::runtime_error("control socket " + path.string() + ": " + what);
}

}  // namespace

ControlResponse send_control_request(const std::filesystem::path& socket_path,
                                     const ControlRequest& request) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.native().size() >= sizeof address.sun_path) {
    throw failure(socket_path, "path too long for a Unix socket");
  }
  std::memcpy(address.sun_path, socket_path.c_str(), socket_path.native().size());

  const FileDescriptor fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw failure(socket_path, std::strerror(errno));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    // ENOENT: no daemon made the socket (or it stopped cleanly); ECONNREFUSED: the file is a
    // dead daemon's.
    if (error == ENOENT || error == ECONNREFUSED) {
      throw ControlSocketUnreachable("no control socket at " + socket_path.string());
    }
    throw failure(socket_path, std::strerror(error));
  }

  const std::string line = control_request_line(request);
  for (size_t sent = 0; sent < line.size();) {
    const ssize_t n = ::send(fd.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw failure(socket_path, std::strerror(errno));
    sent += static_cast<size_t>(n);
  }

  std::string answer;
  while (answer.find('\n') == std::string::npos && answer.size() < kMaxResponse) {
    char chunk[512];
    const ssize_t n = ::recv(fd.get(), chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw failure(socket_path, std::strerror(errno));
    if (n == 0) break;
    answer.append(chunk, static_cast<size_t>(n));
  }
  const size_t end = answer.find('\n');
  if (end == std::string::npos) throw failure(socket_path, "heraldd closed without an answer");
  const auto response = parse_control_response(std::string_view(answer).substr(0, end));
  if (!response) throw failure(socket_path, "heraldd's answer is not a response line");
  return *response;
}

}  // namespace herald
