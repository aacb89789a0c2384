#include "server/mqtt_connection.h"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <mutex>
#include <vector>

namespace herald {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Steady = std::chrono::steady_clock;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// How long the last packets (a CONNACK refusal, a DISCONNECT) may take to leave once the
// session has ended; a client that does not read loses them.
constexpr auto kFarewellTimeout = std::chrono::seconds(5);
constexpr size_t kReadSize = 16 * 1024;

// The writer gathers whatever is pending into one write, so Nagle's delay would only hold
// back an acknowledgement or a copy a device waits for (tens of milliseconds at p99).
void no_delay(tcp::socket& socket) {
  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
}

// The peer as `herald mqtt sessions` shows it: an IPv6 address in brackets, so that the port
// stays apart from it.
std::string peer_text(const PeerInfo& peer) {
  const std::string port = std::to_string(peer.port);
  return peer.ip.find(':') == std::string::npos ? peer.ip + ":" + port
                                                : "[" + peer.ip + "]:" + port;
}

// A plain connection holds no read buffer while it waits: it waits for the socket to be
// readable, then reads into its io thread's buffer and hands the bytes to the session at
// once. A hundred thousand idle devices cost no buffers.
class PlainStream {
 public:
  explicit PlainStream(tcp::socket socket) : socket_(std::move(socket)) {
    boost::system::error_code ignored;
    socket_.non_blocking(true, ignored);
    no_delay(socket_);
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
  TlsStream(tcp::socket socket, asio::ssl::context& context) : ssl_(std::move(socket), context) {
    no_delay(ssl_.next_layer());
  }

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
  virtual void on_deliveries(std::vector<mqtt::Outgoing> batch) = 0;
  virtual void on_taken_over() = 0;
  virtual void on_queue_stored() = 0;
  virtual void on_shutdown() = 0;
};

// What the broker holds of a connection: a way to reach it that does not keep it alive.
class Sink final : public mqtt::SessionSink, public std::enable_shared_from_this<Sink> {
 public:
  explicit Sink(asio::any_io_executor executor) : executor_(std::move(executor)) {}
  void bind(std::weak_ptr<ConnectionEvents> connection) { connection_ = std::move(connection); }

  // Copies gather in an inbox that one handler on the connection's strand empties: a
  // burst costs one post, not one per copy, and the strand takes them in one go.
  void deliver(mqtt::Outgoing outgoing) override {
    {
      std::lock_guard lock(mutex_);
      inbox_.push_back(std::move(outgoing));
      if (drain_posted_) return;
      drain_posted_ = true;
    }
    asio::post(executor_, [self = shared_from_this()] { self->drain(); });
  }
  void taken_over() override {
    asio::post(executor_, [connection = connection_] {
      if (const auto c = connection.lock()) c->on_taken_over();
    });
  }
  void stored() override {
    asio::post(executor_, [connection = connection_] {
      if (const auto c = connection.lock()) c->on_queue_stored();
    });
  }

 private:
  void drain() {
    std::vector<mqtt::Outgoing> batch;
    {
      std::lock_guard lock(mutex_);
      batch.swap(inbox_);
      drain_posted_ = false;
    }
    if (const auto c = connection_.lock()) c->on_deliveries(std::move(batch));
  }

  asio::any_io_executor executor_;
  std::weak_ptr<ConnectionEvents> connection_;
  std::mutex mutex_;
  std::vector<mqtt::Outgoing> inbox_;
  bool drain_posted_ = false;
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
        session_(services.shared->options, services.shared->broker, services.clock, std::move(sink),
                 peer_text(peer_)),
        deadline_timer_(stream_.socket().get_executor()),
        input_wake_(stream_.socket().get_executor(), Steady::time_point::max()) {}

  asio::awaitable<void> run();

  void on_deliveries(std::vector<mqtt::Outgoing> batch) override {
    for (mqtt::Outgoing& outgoing : batch) session_.on_delivery(std::move(outgoing));
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
  void on_queue_stored() override {
    session_.on_queue_stored();
    wake();
  }

 private:
  asio::awaitable<void> read_loop();
  asio::awaitable<void> write_loop(std::shared_ptr<Connection> self);
  asio::awaitable<void> store_loop(std::shared_ptr<Connection> self, mqtt::StoreRequest request);
  asio::awaitable<void> check_login();

  // What a connection costs while it waits decides what a hundred thousand idle devices
  // cost: one coroutine reads (and ends the connection), a writer coroutine exists only
  // while there is output, and the deadline is a timer with a plain handler.
  void wake() {
    input_wake_.cancel();
    if (!storing_) {
      if (std::optional<mqtt::StoreRequest> request = session_.take_store_request()) {
        storing_ = true;
        asio::co_spawn(stream_.socket().get_executor(),
                       store_loop(this->shared_from_this(), std::move(*request)), asio::detached);
      }
    }
    if (session_.has_output() && !writing_) {
      writing_ = true;
      asio::co_spawn(stream_.socket().get_executor(), write_loop(this->shared_from_this()),
                     asio::detached);
    }
    if (session_.ended()) {
      // Whatever ended it, what is left to write gets kFarewellTimeout, no more.
      const auto farewell = Steady::now() + kFarewellTimeout;
      if (farewell < deadline_) {
        deadline_ = farewell;
        deadline_timer_.cancel();  // its handler arms it again, for the nearer time
      }
    }
  }
  void arm_deadline() {
    deadline_timer_.expires_at(deadline_);
    deadline_timer_.async_wait(
        [self = this->shared_from_this()](boost::system::error_code) { self->on_deadline(); });
  }
  // The CONNECT deadline, the keep-alive and the farewell. Run out, the session is told;
  // once it has ended, the socket is closed, which ends the reading and the writing.
  void on_deadline() {
    if (finished_) return;
    if (Steady::now() < deadline_) {
      arm_deadline();  // moved on, or shortened
      return;
    }
    if (session_.ended()) {
      close();
      return;
    }
    session_.on_keep_alive_expired();
    wake();
    arm_deadline();
  }
  // One and a half keep-alives from the last packet read (MQTT 5 3.1.2.10), once
  // connected; before, the CONNECT deadline stands.
  void extend_deadline() {
    if (!session_.connected() || session_.ended()) return;
    const std::chrono::seconds keep_alive = session_.keep_alive();
    deadline_ = keep_alive.count() == 0
                    ? Steady::time_point::max()
                    : Steady::now() + std::chrono::milliseconds(keep_alive) * 3 / 2;
    // A keep-alive shorter than what is left of the CONNECT deadline must not wait for it.
    if (deadline_ < deadline_timer_.expiry()) deadline_timer_.cancel();
  }
  void close() {
    boost::system::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  const MqttServices services_;  // first: what the session refers to goes after it
  const PeerInfo peer_;
  const uint64_t id_;
  Stream stream_;
  mqtt::Session session_;
  Steady::time_point deadline_ = Steady::time_point::max();
  uint64_t packets_seen_ = 0;  // session_.packets_read() when the deadline last moved
  asio::steady_timer deadline_timer_;
  // The reader waits here while the session takes no input, and at the end for the writer.
  asio::steady_timer input_wake_;
  bool writing_ = false;   // a write_loop runs
  bool storing_ = false;   // a store_loop runs
  bool finished_ = false;  // run() is over: the deadline handler lets go
};

template <typename Stream>
asio::awaitable<void> Connection<Stream>::run() {
  const auto self = this->shared_from_this();
  deadline_ = Steady::now() + services_.connect_timeout;
  arm_deadline();
  boost::system::error_code ec;
  co_await stream_.handshake(ec);
  if (!ec && !session_.ended()) co_await read_loop();
  // What is left to write (a refusal, a DISCONNECT) goes before the socket does, within
  // the farewell deadline, which closes the socket otherwise.
  wake();
  // An ended persistent session's record goes to the store before the connection is done.
  while (writing_ || storing_) co_await input_wake_.async_wait(kTuple);
  finished_ = true;
  deadline_timer_.cancel();
  close();
  const mqtt::SessionCounts& counts = session_.counts();
  spdlog::info(
      "mqtt session id={} peer={}:{} client='{}' received={} sent={} refused={} expired={} "
      "dropped={}",
      id_, peer_.ip, peer_.port, session_.client_id(), counts.received, counts.sent, counts.refused,
      counts.expired, counts.dropped_qos0);
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
      if (session_.packets_read() != packets_seen_) extend_deadline();
      packets_seen_ = session_.packets_read();
      if (session_.credentials_to_check()) co_await check_login();
    }
    wake();
  }
}

// Writes until nothing is left, then ends; wake() starts another when output comes.
template <typename Stream>
asio::awaitable<void> Connection<Stream>::write_loop(std::shared_ptr<Connection> self) {
  while (session_.has_output()) {
    const std::string bytes = session_.take_output();
    if (co_await stream_.write(bytes)) {
      session_.on_connection_lost();
      break;
    }
  }
  writing_ = false;
  wake();  // the reader may take more now, or finish
}

asio::awaitable<mqtt::StoreResult> perform(mqtt::StoreWorker& keeper, mqtt::StoreRequest request) {
  co_return keeper.perform(request);
}

// The store request runs on the store pool (it blocks on fsync); the session hears of it on
// the strand.
template <typename Stream>
asio::awaitable<void> Connection<Stream>::store_loop(std::shared_ptr<Connection> self,
                                                     mqtt::StoreRequest request) {
  mqtt::StoreResult result = co_await asio::co_spawn(
      services_.store_executor, perform(services_.shared->keeper, std::move(request)),
      asio::use_awaitable);
  storing_ = false;
  session_.on_stored(std::move(result));
  if (session_.packets_read() != packets_seen_) extend_deadline();
  packets_seen_ = session_.packets_read();
  wake();
}

// Parameters, not lambda captures: a coroutine's frame keeps copies of its parameters, while
// a lambda's captures would die with the lambda before the coroutine runs.
asio::awaitable<mqtt::LoginResult> log_in(std::shared_ptr<const mqtt::AccessPolicy> policy,
                                          mqtt::Credentials credentials) {
  co_return policy->login(credentials.username, credentials.password);
}

// AccessPolicy::login runs crypt(3): on the login executor, never on an io thread. The
// connection reads nothing meanwhile (the session takes no input).
template <typename Stream>
asio::awaitable<void> Connection<Stream>::check_login() {
  AuthFailureLimiter& failures = services_.shared->login_failures;
  mqtt::LoginResult result = mqtt::LoginRefusal::bad_credentials;
  if (failures.blocked(peer_.ip)) {
    spdlog::warn("mqtt login refused peer={}:{} reason=too-many-failures", peer_.ip, peer_.port);
  } else {
    result = co_await asio::co_spawn(
        services_.login_executor,
        log_in(services_.shared->policy.current(), *session_.credentials_to_check()),
        asio::use_awaitable);
    const auto* refusal = std::get_if<mqtt::LoginRefusal>(&result);
    if (refusal && *refusal == mqtt::LoginRefusal::bad_credentials)
      failures.record_failure(peer_.ip);
  }
  session_.on_login(result);
  extend_deadline();  // from the CONNECT deadline to the keep-alive it settled
}

template <typename Stream>
std::function<void()> start(Stream stream, PeerInfo peer, const MqttServices& services, uint64_t id,
                            std::function<void()> finished) {
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

MqttShared::MqttShared(const mqtt::SessionOptions& session_options,
                       const mqtt::BrokerLimits& limits, const Config& config, const Clock& clock,
                       Store& store)
    : memory(config.mqtt.max_bytes_in_flight),
      options(session_options),
      broker(std::make_shared<mqtt::Broker>(limits)),
      policy(std::make_shared<const mqtt::AccessPolicy>(config.mqtt, config.devices)),
      login_failures(clock, config.limits.max_auth_failures, config.limits.auth_failure_window),
      keeper(store, *broker, clock, &memory) {
  options.memory = &memory;
}

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
