#include "server/control_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace herald {
namespace {

// Longer than any line of an answer: an error text, bounded by what the daemon echoes back,
// or a session's (a client id is at most [mqtt] max_client_id_length, 65,535 at most, four
// times that escaped).
constexpr size_t kMaxAnswerLine = 300 * 1024;

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

std::runtime_error failure(const std::filesystem::path& path, const std::string& what) {
  return std::runtime_error("control socket " + path.string() + ": " + what);
}

// One request sent, its answer read a line at a time.
class Conversation {
 public:
  Conversation(const std::filesystem::path& socket_path, const std::string& request_line)
      : path_(socket_path), fd_(connect_to(socket_path)) {
    for (size_t sent = 0; sent < request_line.size();) {
      const ssize_t n =
          ::send(fd_.get(), request_line.data() + sent, request_line.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw failure(path_, std::strerror(errno));
      sent += static_cast<size_t>(n);
    }
  }

  // The next line without its LF. Throws when the daemon closes before one, or sends one
  // longer than any it writes.
  std::string next_line() {
    while (buffer_.find('\n') == std::string::npos) {
      if (buffer_.size() >= kMaxAnswerLine) throw failure(path_, "heraldd's answer is too long");
      char chunk[4096];
      const ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw failure(path_, std::strerror(errno));
      if (n == 0) throw failure(path_, "heraldd closed without an answer");
      buffer_.append(chunk, static_cast<size_t>(n));
    }
    const size_t end = buffer_.find('\n');
    std::string line = buffer_.substr(0, end);
    buffer_.erase(0, end + 1);
    return line;
  }

  ControlResponse last_line(std::string_view line) const {
    const auto response = parse_control_response(line);
    if (!response) throw failure(path_, "heraldd's answer is not a response line");
    return *response;
  }

 private:
  static int connect_to(const std::filesystem::path& socket_path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (socket_path.native().size() >= sizeof address.sun_path) {
      throw failure(socket_path, "path too long for a Unix socket");
    }
    std::memcpy(address.sun_path, socket_path.c_str(), socket_path.native().size());
    FileDescriptor fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
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
    return fd.release();
  }

  const std::filesystem::path& path_;
  FileDescriptor fd_;
  std::string buffer_;
};

}  // namespace

ControlResponse send_control_request(const std::filesystem::path& socket_path,
                                     const ControlRequest& request) {
  Conversation conversation(socket_path, control_request_line(request));
  return conversation.last_line(conversation.next_line());
}

std::variant<mqtt::SessionList, std::string> request_mqtt_sessions(
    const std::filesystem::path& socket_path, const MqttSessionsRequest& request) {
  Conversation conversation(socket_path, control_request_line(request));
  mqtt::SessionList list;
  std::string line = conversation.next_line();
  for (; is_mqtt_session_line(line); line = conversation.next_line()) {
    auto session = parse_mqtt_session_line(line);
    if (!session) throw failure(socket_path, "heraldd sent a session line herald cannot read");
    list.sessions.push_back(std::move(*session));
  }
  const ControlResponse end = conversation.last_line(line);
  if (!end.ok) return end.error;
  list.total = end.changed;
  return list;
}

}  // namespace herald
