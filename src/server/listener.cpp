#include "server/listener.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

namespace herald {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// After a failed accept (no free descriptors, say) the loop waits this long, so that the
// condition does not become a busy loop.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

std::string address_text(const tcp::endpoint& endpoint) {
  const std::string host = endpoint.address().to_string();
  const std::string port = std::to_string(endpoint.port());
  return endpoint.address().is_v6() ? "[" + host + "]:" + port : host + ":" + port;
}

PeerInfo peer_of(const tcp::socket& socket) {
  boost::system::error_code ec;
  const tcp::endpoint endpoint = socket.remote_endpoint(ec);
  if (ec) return PeerInfo{"unknown", 0};
  asio::ip::address address = endpoint.address();
  // A dual-stack socket sees IPv4 clients as ::ffff:a.b.c.d; they are IPv4 clients, and
  // the per-address limit must count them as such.
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return PeerInfo{address.to_string(), endpoint.port()};
}

// The 421 fits in any fresh socket's send buffer, so one non-blocking send delivers it
// without tying anything up for a client we are refusing.
void turn_away(tcp::socket& socket, const std::string& hostname) {
  boost::system::error_code ignored;
  socket.non_blocking(true, ignored);
  socket.send(asio::buffer(too_many_connections_reply(hostname).wire()), 0, ignored);
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

// `shared` around `settings`: SmtpServices holds its settings by reference, so each
// connection's copy is built around the snapshot it keeps. Names every SmtpServices member.
std::unique_ptr<const SmtpServices> services_with(const SmtpServices& shared,
                                                  const SessionSettings& settings) {
  return std::make_unique<const SmtpServices>(
      SmtpServices{settings, shared.resources, shared.clock, shared.store, shared.queue,
                   shared.commit_executor, shared.auth_limiter, shared.sender_checks});
}

// The frame keeps the connection's settings and services alive for as long as it runs:
// they go only after the session has ended (what of the connection outlives run(), its
// watchdog, reads neither).
asio::awaitable<void> run_connection(std::shared_ptr<SmtpConnection> connection,
                                     std::shared_ptr<const SessionSettings> settings,
                                     std::unique_ptr<const SmtpServices> services,
                                     ConnectionRegistry& registry, uint64_t id) {
  co_await connection->run();
  // In this order: what refers to the services and settings before them.
  connection.reset();
  services.reset();
  settings.reset();
  registry.release(id);
}

}  // namespace

class Listener::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, const ListenConfig& config, const Swappable<SessionSettings>& settings,
       const SmtpServices& services, ConnectionRegistry& registry)
      : io_(io),
        settings_(settings),
        services_(services),
        registry_(registry),
        acceptor_(asio::make_strand(io)) {
    boost::system::error_code ec;
    const tcp::endpoint endpoint(asio::ip::make_address(config.host, ec), config.port);
    address_ = config.host + ":" + std::to_string(config.port);
    if (!ec) acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    // One listener per address family: "[::]:25" beside "0.0.0.0:25" must not collide.
    if (!ec && endpoint.address().is_v6()) acceptor_.set_option(asio::ip::v6_only(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on " + address_ + ": " + ec.message());
    // The bound address, with the port the system chose when the configuration said 0.
    address_ = address_text(acceptor_.local_endpoint());
  }

  void start() { asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached); }

  void stop() {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
      boost::system::error_code ignored;
      self->acceptor_.close(ignored);
    });
  }

  const std::string& address() const { return address_; }

 private:
  asio::awaitable<void> accept_loop() {
    const auto self = shared_from_this();
    asio::steady_timer retry_timer(acceptor_.get_executor());
    while (acceptor_.is_open()) {
      // Each connection gets its own strand: its session and watchdog never run at once.
      auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(io_),
                                                          asio::as_tuple(asio::use_awaitable));
      if (!acceptor_.is_open()) break;
      if (ec) {
        spdlog::warn("listener address={} accept failed: {}", address_, ec.message());
        retry_timer.expires_after(kAcceptRetryDelay);
        co_await retry_timer.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      serve(std::move(socket));
    }
  }

  void serve(tcp::socket socket) {
    PeerInfo peer = peer_of(socket);
    // The settings of the moment, a reload's included, for this session to its end.
    std::shared_ptr<const SessionSettings> settings = settings_.current();
    const std::optional<uint64_t> id = registry_.admit(peer.ip);
    if (!id) {
      spdlog::warn("refused peer={}:{} reason=too-many-connections", peer.ip, peer.port);
      turn_away(socket, settings->hostname);
      return;
    }
    const auto executor = socket.get_executor();
    std::unique_ptr<const SmtpServices> services = services_with(services_, *settings);
    auto connection =
        std::make_shared<SmtpConnection>(std::move(socket), std::move(peer), *services, *id);
    registry_.set_stop(*id, [weak = std::weak_ptr<SmtpConnection>(connection)] {
      if (const auto c = weak.lock()) c->request_shutdown();
    });
    asio::co_spawn(executor,
                   run_connection(std::move(connection), std::move(settings), std::move(services),
                                  registry_, *id),
                   asio::detached);
  }

  asio::io_context& io_;
  const Swappable<SessionSettings>& settings_;
  const SmtpServices& services_;
  ConnectionRegistry& registry_;
  tcp::acceptor acceptor_;
  std::string address_;
};

Listener::Listener(asio::io_context& io, const ListenConfig& config,
                   const Swappable<SessionSettings>& settings, const SmtpServices& services,
                   ConnectionRegistry& registry)
    : impl_(std::make_shared<Impl>(io, config, settings, services, registry)) {}

Listener::~Listener() = default;

void Listener::start() {
  impl_->start();
}

void Listener::stop() {
  impl_->stop();
}

const std::string& Listener::address() const {
  return impl_->address();
}

}  // namespace herald
