#include "server/tcp_acceptor.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
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

}  // namespace

class TcpAcceptor::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, const ListenConfig& config, Serve serve)
      : io_(io), serve_(std::move(serve)), acceptor_(asio::make_strand(io)) {
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
      // Each connection gets its own strand: its session and its timers never run at once.
      auto [ec, accepted] = co_await acceptor_.async_accept(asio::make_strand(io_),
                                                            asio::as_tuple(asio::use_awaitable));
      if (!acceptor_.is_open()) break;
      if (ec) {
        spdlog::warn("listener address={} accept failed: {}", address_, ec.message());
        retry_timer.expires_after(kAcceptRetryDelay);
        co_await retry_timer.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      tcp::socket socket(std::move(accepted));  // its executor stays the strand
      PeerInfo peer = peer_of(socket);
      serve_(std::move(socket), std::move(peer));
    }
  }

  asio::io_context& io_;
  Serve serve_;
  tcp::acceptor acceptor_;
  std::string address_;
};

TcpAcceptor::TcpAcceptor(asio::io_context& io, const ListenConfig& config, Serve serve)
    : impl_(std::make_shared<Impl>(io, config, std::move(serve))) {}

TcpAcceptor::~TcpAcceptor() = default;

void TcpAcceptor::start() {
  impl_->start();
}

void TcpAcceptor::stop() {
  impl_->stop();
}

const std::string& TcpAcceptor::address() const {
  return impl_->address();
}

}  // namespace herald
