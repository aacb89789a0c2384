#include "server/mqtt_connection.h"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace herald {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Steady = std::chrono::steady_clock;
using asio::experimental::awaitable_operators::operator&&;
using asio::experimental::awaitable_operators::operator||;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// How long the last packets (a CONNACK refusal, a DISCONNECT) may take to leave once the
// session has ended; a client that does not read loses them.
constexpr auto kFarewellTimeout = std::chrono::seconds(5);
constexpr size_t kReadSize = 16 * 1024;

// A plain connection holds no read buffer while it waits: it waits for the socket to be
// readable, then reads into its io thread's buffer and hands the bytes to the session at
// once. A hundred thousand idle devices cost no buffers.
class PlainStream {
 public:
  explicit PlainStream(tcp::socket socket) : socket_(std::move(socket)) {
    boost::system::error_code ignored;
    socket_.non_blocking(true, ignored);
  }

  asio::awaitable<void> handshake(boost::system::error_code&) { co_return; }

  // Calls `take` with what could be read; an error (or end of stream) in `ec`.
  template <typename Take>
  asio::awaitable<void> read(Take&& take, boost::system::error_code& ec) {
    thread_local std::array<char, kReadSize> buffer;
    for (;;) {
      const size_t n = socket_.read_some(asio::buffer(buffer), ec);
      if (ec != asio::error::would_block) {
        if (!ec) take(std::string_view(buffer.data(), n));
        co_return;
      }
      std::tie(ec) = co_await socket_.async_wait(tcp::socket::wait_read, kTuple);
      if (ec) co_return;
    }
  }

  asio::awaitable<boost::system::error_code> write(std::string_view bytes) {
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(bytes), kTuple);
    co_return ec;
  }

  tcp::socket& socket() { return socket_; }

 private:
  tcp::socket socket_;
};

// mqtts: TLS from the first byte. OpenSSL and Asio's engine keep their own buffers per
// connection (tens of KiB); docs/mqtt.md says so.
class TlsStream {
 public:
  TlsStream(tcp::socket socket, asio::ssl::context& context) : ssl_(std::move(socket), context) {}

  asio::awaitable<void> handshake(boost::system::error_code& ec) {
    std::tie(ec) = co_await ssl_.async_handshake(asio::ssl::stream_base::server, kTuple);
  }

  template <typename Take>
  asio::awaitable<void> read(Take&& take, boost::system::error_code& ec) {
    std::array<char, 4096> buffer;
    size_t n = 0;
    std::tie(ec, n) = co_await ssl_.async_read_some(asio::buffer(buffer), kTuple);
    if (!ec) take(std::string_view(buffer.data(), n));
  }

  asio::awaitable<boost::system::error_code> write(std::string_view bytes) {
    auto [ec, n] = co_await asio::async_write(ssl_, asio::buffer(bytes), kTuple);
    co_return ec;
  }

  tcp::socket& socket() { return ssl_.next_layer(); }

 private:
  asio::ssl::stream<tcp::socket> ssl_;
};

// What the broker and the daemon reach a connection by, on its strand.
class ConnectionEvents {
 public:
  virtual ~ConnectionEvents() = default;
  virtual void on_delivery(mqtt::Outgoing outgoing) = 0;
  virtual void on_taken_over() = 0;
  virtual void on_shutdown() = 0;
};

// What the broker holds of a connection: a way to reach it that does not keep it alive.
class Sink final : public mqtt::SessionSink {
 public:
  explicit Sink(asio::any_io_executor executor) : executor_(std::move(executor)) {}
  void bind(std::weak_ptr<ConnectionEvents> connection) { connection_ = std::move(connection); }

  void deliver(mqtt::Outgoing outgoing) override {
    asio::post(executor_, [connection = connection_, outgoing = std::move(outgoing)]() mutable {
      if (const auto c = connection.lock()) c->on_delivery(std::move(outgoing));
    });
  }
  void taken_over() override {
    asio::post(executor_, [connection = connection_] {
      if (const auto c = connection.lock()) c->on_taken_over();
    });
  }

 private:
  asio::any_io_executor executor_;
  std::weak_ptr<ConnectionEvents> connection_;
};

template <typename Stream>
class Connection final : public ConnectionEvents,
                         public std::enable_shared_from_this<Connection<Stream>> {
 public:
  Connection(Stream stream, PeerInfo peer, const MqttServices& services, uint64_t id,
             std::shared_ptr<Sink> sink)
      : services_(services),
        peer_(std::move(peer)),
        id_(id),
        stream_(std::move(stream)),
        session_(services.options, services.broker, services.clock, std::move(sink)),
        deadline_timer_(stream_.socket().get_executor()),
        input_wake_(stream_.socket().get_executor(), Steady::time_point::max()),
        output_wake_(stream_.socket().get_executor(), Steady::time_point::max()) {}

  asio::awaitable<void> run();

  void on_delivery(mqtt::Outgoing outgoing) override {
    session_.on_delivery(std::move(outgoing));
    wake();
  }
  void on_taken_over() override {
    session_.on_taken_over();
    wake();
  }
  void on_shutdown() override {
    session_.on_server_shutdown();
    wake();
  }

 private:
  asio::awaitable<void> read_loop();
  asio::awaitable<void> write_loop();
  asio::awaitable<void> watch_deadline();
  asio::awaitable<void> check_login();

  void wake() {
    input_wake_.cancel();
    output_wake_.cancel();
    if (session_.ended()) {
      // Whatever ended it, what is left to write gets kFarewellTimeout, no more.
      const auto farewell = Steady::now() + kFarewellTimeout;
      if (farewell < deadline_) {
        deadline_ = farewell;
        deadline_timer_.cancel();
      }
    }
  }
  // One and a half keep-alives from the last read (MQTT 5 3.1.2.10), once connected;
  // before, the CONNECT deadline stands.
  void extend_deadline() {
    if (!session_.connected() || session_.ended()) return;
    const std::chrono::seconds keep_alive = session_.keep_alive();
    deadline_ = keep_alive.count() == 0 ? Steady::time_point::max()
                                        : Steady::now() + std::chrono::milliseconds(keep_alive) * 3 / 2;
  }
  void close() {
    boost::system::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  const MqttServices& services_;
  const PeerInfo peer_;
  const uint64_t id_;
  Stream stream_;
  mqtt::Session session_;
  Steady::time_point deadline_ = Steady::time_point::max();
  asio::steady_timer deadline_timer_;
  asio::steady_timer input_wake_;   // the reader waits here while the session takes no input
  asio::steady_timer output_wake_;  // the writer waits here while there is nothing to write
};

template <typename Stream>
asio::awaitable<void> Connection<Stream>::run() {
  const auto self = this->shared_from_this();
  deadline_ = Steady::now() + services_.connect_timeout;
  boost::system::error_code ec;
  co_await (stream_.handshake(ec) || watch_deadline());
  if (!ec && !session_.ended()) {
    co_await ((read_loop() && write_loop()) || watch_deadline());
  }
  close();
  const mqtt::SessionCounts& counts = session_.counts();
  spdlog::info(
      "mqtt session id={} peer={}:{} client='{}' received={} sent={} refused={} expired={} "
      "dropped={}",
      id_, peer_.ip, peer_.port, session_.client_id(), counts.received, counts.sent,
      counts.refused, counts.expired, counts.dropped_qos0);
}

template <typename Stream>
asio::awaitable<void> Connection<Stream>::read_loop() {
  while (!session_.ended()) {
    if (!session_.wants_input()) {
      co_await input_wake_.async_wait(kTuple);
      continue;
    }
    boost::system::error_code ec;
    co_await stream_.read([this](std::string_view bytes) { session_.on_bytes(bytes); }, ec);
    if (ec) {
      session_.on_connection_lost();
    } else {
      extend_deadline();
      if (session_.credentials_to_check()) co_await check_login();
    }
    wake();
  }
}

template <typename Stream>
asio::awaitable<void> Connection<Stream>::write_loop() {
  for (;;) {
    if (session_.has_output()) {
      const std::string bytes = session_.take_output();
      if (co_await stream_.write(bytes)) {
        session_.on_connection_lost();
        wake();
        co_return;
      }
      input_wake_.cancel();  // the backlog went: the reader may take more
      continue;
    }
    if (session_.ended()) co_return;
    co_await output_wake_.async_wait(kTuple);
  }
}

// Runs out the CONNECT deadline, the keep-alive and the farewell: the session is told, and
// when it has ended the socket is closed, which ends whatever still reads or writes.
template <typename Stream>
asio::awaitable<void> Connection<Stream>::watch_deadline() {
  for (;;) {
    deadline_timer_.expires_at(deadline_);
    co_await deadline_timer_.async_wait(kTuple);
    if (Steady::now() < deadline_) continue;  // moved on, or shortened
    if (session_.ended()) {
      close();
      co_return;
    }
    session_.on_keep_alive_expired();
    wake();
  }
}

// Parameters, not lambda captures: a coroutine's frame keeps copies of its parameters, while
// a lambda's captures would die with the lambda before the coroutine runs.
asio::awaitable<mqtt::LoginResult> log_in(const mqtt::AccessPolicy& policy,
                                          mqtt::Credentials credentials) {
  co_return policy.login(credentials.username, credentials.password);
}

// AccessPolicy::login runs crypt(3): on the login executor, never on an io thread. The
// connection reads nothing meanwhile (the session takes no input).
template <typename Stream>
asio::awaitable<void> Connection<Stream>::check_login() {
  mqtt::LoginResult result =
      co_await asio::co_spawn(services_.login_executor,
                              log_in(services_.policy, *session_.credentials_to_check()),
                              asio::use_awaitable);
  session_.on_login(result);
  extend_deadline();  // from the CONNECT deadline to the keep-alive it settled
}

template <typename Stream>
std::function<void()> start(Stream stream, PeerInfo peer, const MqttServices& services,
                            uint64_t id, std::function<void()> finished) {
  const asio::any_io_executor executor = stream.socket().get_executor();
  auto sink = std::make_shared<Sink>(executor);
  auto connection =
      std::make_shared<Connection<Stream>>(std::move(stream), std::move(peer), services, id, sink);
  sink->bind(connection);
  std::weak_ptr<ConnectionEvents> weak = connection;
  asio::co_spawn(executor, connection->run(),
                 [connection, finished = std::move(finished)](const std::exception_ptr&) mutable {
                   connection.reset();
                   finished();
                 });
  return [executor, weak] {
    asio::post(executor, [weak] {
      if (const auto c = weak.lock()) c->on_shutdown();
    });
  };
}

}  // namespace

std::function<void()> start_mqtt_connection(tcp::socket socket, PeerInfo peer,
                                            const MqttServices& services, uint64_t id,
                                            std::function<void()> finished) {
  if (services.tls != nullptr) {
    return start(TlsStream(std::move(socket), *services.tls), std::move(peer), services, id,
                 std::move(finished));
  }
  return start(PlainStream(std::move(socket)), std::move(peer), services, id, std::move(finished));
}

}  // namespace herald
