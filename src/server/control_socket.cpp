#include "server/control_socket.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "server/control_protocol.h"
#include "store/store.h"

namespace herald {
namespace {

namespace asio = boost::asio;
using unix_socket = asio::local::stream_protocol;
using namespace asio::experimental::awaitable_operators;

// After a failed accept (no free descriptors, say) the loop waits this long, so that the
// condition does not become a busy loop.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& why) {
  throw std::runtime_error("cannot make the control socket " + path.string() + ": " + why);
}

// A daemon killed without its clean stop leaves its socket file behind, and bind() would
// fail on it. Only a socket is removed: any other file there is not ours to delete.
void remove_stale_socket(const std::filesystem::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    fail(path, std::strerror(errno));
  }
  if (!S_ISSOCK(st.st_mode)) fail(path, "a file that is not a socket is in the way");
  if (::unlink(path.c_str()) != 0) fail(path, std::strerror(errno));
  spdlog::info("control: replaced the stale socket {}", path.string());
}

std::optional<size_t> perform(QueueControl& control, const ControlRequest& request) {
  switch (request.verb) {
    case ControlVerb::retry:
      return control.retry(request.message_id);
    case ControlVerb::hold:
      return control.hold(request.message_id);
    case ControlVerb::release:
      return control.release(request.message_id);
    case ControlVerb::bounce:
      return control.bounce(request.message_id);
  }
  return std::nullopt;
}

std::string target_text(const ControlRequest& request) {
  return request.message_id.empty() ? std::string("--all") : request.message_id;
}

ControlResponse error_response(std::string text) {
  ControlResponse response;
  response.error = std::move(text);
  return response;
}

}  // namespace

class ControlSocket::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, std::filesystem::path path, QueueControl& control,
       const mqtt::SessionDirectory* sessions, asio::any_io_executor blocking_executor)
      : io_(io),
        path_(std::move(path)),
        control_(control),
        sessions_(sessions),
        blocking_executor_(std::move(blocking_executor)),
        acceptor_(asio::make_strand(io)) {
    if (path_.native().size() >= sizeof(sockaddr_un{}.sun_path)) {
      fail(path_, "the path is too long for a Unix socket; use a shorter data_dir");
    }
    remove_stale_socket(path_);
    boost::system::error_code ec;
    acceptor_.open(unix_socket(), ec);
    if (ec) fail(path_, ec.message());
    // Linux creates the socket file with the mode of the unbound socket: set before bind,
    // the file is never open to others, not even for an instant. Systems that ignore that
    // mode get the chmod after bind, which leaves them only the instant in between.
    if (::fchmod(acceptor_.native_handle(), 0600) != 0) fail(path_, std::strerror(errno));
    acceptor_.bind(unix_socket::endpoint(path_.native()), ec);
    if (ec) fail(path_, ec.message());
    if (::chmod(path_.c_str(), 0600) != 0) fail(path_, std::strerror(errno));
    acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) fail(path_, ec.message());
  }

  void start() {
    asio::co_spawn(acceptor_.get_executor(), accept_loop(shared_from_this()), asio::detached);
  }

  void stop() {
    if (stopped_.exchange(true)) return;
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
      boost::system::error_code ignored_too;
      self->acceptor_.close(ignored_too);
    });
  }

 private:
  // `self` keeps this object alive for as long as the coroutine runs; so in serve().
  asio::awaitable<void> accept_loop(std::shared_ptr<Impl> self) {
    asio::steady_timer retry_timer(acceptor_.get_executor());
    while (acceptor_.is_open()) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(io_),
                                                          asio::as_tuple(asio::use_awaitable));
      if (!acceptor_.is_open()) break;
      if (ec) {
        spdlog::warn("control: accept failed: {}", ec.message());
        retry_timer.expires_after(kAcceptRetryDelay);
        co_await retry_timer.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      const auto executor = socket.get_executor();
      asio::co_spawn(executor, serve(self, std::move(socket)), asio::detached);
    }
  }

  // One request, one answer, close.
  asio::awaitable<void> serve(std::shared_ptr<Impl> /*self*/, unix_socket::socket socket) {
    std::string buffer;
    asio::steady_timer timer(socket.get_executor(), kControlRequestTimeout);
    const auto read =
        co_await (asio::async_read_until(socket, asio::dynamic_buffer(buffer, kMaxControlRequest),
                                         '\n', asio::as_tuple(asio::use_awaitable)) ||
                  timer.async_wait(asio::as_tuple(asio::use_awaitable)));

    std::string reply;
    if (read.index() == 1) {
      reply = control_response_line(error_response(
          "no request within " + std::to_string(kControlRequestTimeout.count()) + " seconds"));
    } else if (const auto [ec, length] = std::get<0>(read); ec == asio::error::not_found) {
      reply = control_response_line(
          error_response("request longer than " + std::to_string(kMaxControlRequest) + " octets"));
    } else if (ec) {
      reply = control_response_line(error_response("request ended without a line feed"));
    } else {
      std::string_view line(buffer.data(), length - 1);
      if (line.ends_with('\r')) line.remove_suffix(1);
      reply = co_await answer(line);
    }
    co_await asio::async_write(socket, asio::buffer(reply), asio::as_tuple(asio::use_awaitable));
    boost::system::error_code ignored;
    socket.shutdown(unix_socket::socket::shutdown_both, ignored);
  }

  // The whole answer, LFs included.
  asio::awaitable<std::string> answer(std::string_view line) {
    auto parsed = parse_control_request(line);
    if (auto* error = std::get_if<std::string>(&parsed)) {
      spdlog::warn("control: refused request: {}", *error);
      co_return control_response_line(error_response(std::move(*error)));
    }
    if (const auto* request = std::get_if<MqttSessionsRequest>(&parsed)) {
      co_return co_await list_sessions(*request);
    }
    co_return control_response_line(co_await change_queue(std::get<ControlRequest>(parsed)));
  }

  // The answer's text is made in the pool as well: with --all it may run to megabytes.
  asio::awaitable<std::string> list_sessions(MqttSessionsRequest request) {
    if (sessions_ == nullptr) co_return mqtt_sessions_response_text(mqtt::SessionList{});
    const mqtt::SessionDirectory& sessions = *sessions_;
    co_return co_await asio::co_spawn(
        blocking_executor_,
        [&]() -> asio::awaitable<std::string> {
          co_return mqtt_sessions_response_text(sessions.list_sessions(request.limit));
        },
        asio::use_awaitable);
  }

  asio::awaitable<ControlResponse> change_queue(ControlRequest request) {
    const std::string target = target_text(request);
    QueueControl& control = control_;
    std::optional<size_t> changed;
    try {
      changed = co_await asio::co_spawn(
          blocking_executor_,
          [&]() -> asio::awaitable<std::optional<size_t>> { co_return perform(control, request); },
          asio::use_awaitable);
    } catch (const StoreError& e) {
      spdlog::error("control: {} {} failed: {}", to_string(request.verb), target, e.what());
      co_return error_response(std::string("the store failed, nothing changed: ") + e.what());
    } catch (const std::exception& e) {
      spdlog::error("control: {} {} failed: {}", to_string(request.verb), target, e.what());
      co_return error_response(std::string("failed: ") + e.what() + " (see heraldd's log)");
    }
    if (!changed) {
      spdlog::info("control: {} {}: no such message", to_string(request.verb), target);
      co_return error_response("no message " + target);
    }
    spdlog::info("control: {} {} changed={}", to_string(request.verb), target, *changed);
    ControlResponse response;
    response.ok = true;
    response.changed = *changed;
    co_return response;
  }

  asio::io_context& io_;
  const std::filesystem::path path_;
  QueueControl& control_;
  const mqtt::SessionDirectory* sessions_;
  asio::any_io_executor blocking_executor_;
  unix_socket::acceptor acceptor_;
  std::atomic<bool> stopped_{false};
};

ControlSocket::ControlSocket(asio::io_context& io, std::filesystem::path path,
                             QueueControl& control, const mqtt::SessionDirectory* sessions,
                             asio::any_io_executor blocking_executor)
    : impl_(std::make_shared<Impl>(io, std::move(path), control, sessions,
                                   std::move(blocking_executor))) {}

ControlSocket::~ControlSocket() {
  impl_->stop();
}

void ControlSocket::start() {
  impl_->start();
}

void ControlSocket::stop() {
  impl_->stop();
}

}  // namespace herald
