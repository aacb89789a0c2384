// The inside of one inbound SMTP connection (internal to src/smtp): the stream it talks
// over and the coroutine object, whose work is split over server_connection.cpp (the
// conversation, TLS, timeouts, sender and credential checks) and
// server_connection_message.cpp (the content: receiving it into the store, its checks, the
// seal, the commit).
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "smtp/server_connection.h"

namespace herald {
namespace connection_internal {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using SteadyTime = std::chrono::steady_clock::time_point;

constexpr size_t kReadSize = 16 * 1024;
// Replies to a long pipelined group are flushed once this much is waiting (RFC 2920 3.2
// lets the server flush whenever it likes; the bound keeps memory small).
constexpr size_t kMaxPendingOutput = 16 * 1024;
// How long a last 421 may take to leave; a client that does not read it loses it.
constexpr auto kFarewellTimeout = std::chrono::seconds(5);

// The connection's byte stream, before and after STARTTLS: the same object, which reads
// and writes the TCP socket directly until the handshake and through TLS afterwards.
class SmtpStream {
 public:
  SmtpStream(tcp::socket socket, asio::ssl::context& tls) : ssl_(std::move(socket), tls) {}

  asio::awaitable<size_t> read_some(asio::mutable_buffer buffer) {
    if (tls_) co_return co_await ssl_.async_read_some(buffer, asio::use_awaitable);
    co_return co_await ssl_.next_layer().async_read_some(buffer, asio::use_awaitable);
  }

  asio::awaitable<void> write(asio::const_buffer buffer) {
    if (tls_) {
      co_await asio::async_write(ssl_, buffer, asio::use_awaitable);
    } else {
      co_await asio::async_write(ssl_.next_layer(), buffer, asio::use_awaitable);
    }
  }

  asio::awaitable<TlsInfo> handshake() {
    co_await ssl_.async_handshake(asio::ssl::stream_base::server, asio::use_awaitable);
    tls_ = true;
    const SSL* ssl = ssl_.native_handle();
    co_return TlsInfo{SSL_get_version(ssl), SSL_CIPHER_get_name(SSL_get_current_cipher(ssl))};
  }

  tcp::socket& socket() { return ssl_.next_layer(); }

 private:
  asio::ssl::stream<tcp::socket> ssl_;
  bool tls_ = false;
};

}  // namespace connection_internal

using namespace connection_internal;  // NOLINT(google-build-using-namespace): internal header

class SmtpConnection::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(tcp::socket socket, PeerInfo peer, const SmtpServices& services, uint64_t id)
      : services_(services),
        resources_(services.resources.current()),
        id_(id),
        peer_(std::move(peer)),
        executor_(socket.get_executor()),
        stream_(std::move(socket), *resources_->tls),
        watchdog_timer_(executor_, SteadyTime::max()),
        session_deadline_(std::chrono::steady_clock::now() +
                          services.settings.limits.max_session_time),
        session_(services.settings, *resources_->directory, services.clock, peer_,
                 &services.auth_limiter) {}

  asio::awaitable<void> run();
  void request_shutdown();

 private:
  enum class LineResult { line, too_long, shutdown };

  asio::awaitable<void> converse();
  asio::awaitable<bool> follow(SessionStep step);
  asio::awaitable<LineResult> read_command_line(std::string& line);
  asio::awaitable<SessionStep> receive_data();
  asio::awaitable<SessionStep> receive_chunk(uint64_t size);
  // Writes the body pieces the session has ready to the store, on the commit pool: the
  // reading waits meanwhile, so a connection holds at most one piece of body in memory.
  asio::awaitable<void> store_ready_pieces();
  // Runs one session step that reads or edits the whole header section, off the io thread.
  asio::awaitable<SessionStep> off_io(std::function<SessionStep()> step);
  // Drops the bodies of transactions that ended uncommitted (and, with `closing`, the one
  // still arriving), on the commit pool. A failure only costs disk until the next start.
  asio::awaitable<void> discard_abandoned_bodies(bool closing);
  // The content the checks at end of data read: what the session holds, its body's pieces
  // read back from the store.
  MessageContent content_to_check() const;
  SessionStep after_content(SessionStep step);
  asio::awaitable<SessionStep> commit();
  asio::awaitable<SessionStep> check_sender();
  asio::awaitable<SessionStep> check_message();
  asio::awaitable<SessionStep> seal_message();
  asio::awaitable<void> start_tls();
  asio::awaitable<SessionStep> check_credentials();
  asio::awaitable<void> say_goodbye(const Reply& reply);

  asio::awaitable<void> fill();
  asio::awaitable<void> flush();
  std::string_view buffered() const { return std::string_view(input_).substr(input_begin_); }
  void consume(size_t n) { input_begin_ += n; }

  asio::awaitable<void> watchdog();
  void arm(std::chrono::steady_clock::duration timeout);
  void disarm() { watchdog_timer_.expires_at(SteadyTime::max()); }
  // The watchdog can fire just after an operation completed, when it has nothing to
  // cancel; the next operation then must not start.
  void throw_if_timed_out() const {
    if (timed_out_) throw boost::system::system_error(asio::error::timed_out);
  }

  const SmtpServices& services_;
  // Taken once, before the stream and the session that use it, and kept to the end.
  const std::shared_ptr<const SessionResources> resources_;
  const uint64_t id_;
  const PeerInfo peer_;
  asio::any_io_executor executor_;
  SmtpStream stream_;
  asio::steady_timer watchdog_timer_;
  // limits.max_session_time after the connection came: no deadline armed goes past it.
  const SteadyTime session_deadline_;
  ServerSession session_;

  std::string input_;
  size_t input_begin_ = 0;
  std::string output_;

  bool timed_out_ = false;
  bool waiting_for_command_ = false;
  bool shutdown_requested_ = false;
  bool finished_ = false;
  std::string end_reason_;  // empty while the session runs
};

}  // namespace herald
