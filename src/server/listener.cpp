#include "server/listener.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "server/tcp_acceptor.h"

namespace herald {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

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

class Listener::Impl {
 public:
  Impl(asio::io_context& io, const ListenConfig& config, const Swappable<SessionSettings>& settings,
       const SmtpServices& services, ConnectionRegistry& registry)
      : settings_(settings),
        services_(services),
        registry_(registry),
        acceptor_(io, config,
                  [this](tcp::socket socket, PeerInfo peer) {
                    serve(std::move(socket), std::move(peer));
                  }) {}

  TcpAcceptor& acceptor() { return acceptor_; }

 private:
  void serve(tcp::socket socket, PeerInfo peer) {
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

  const Swappable<SessionSettings>& settings_;
  const SmtpServices& services_;
  ConnectionRegistry& registry_;
  TcpAcceptor acceptor_;
};

Listener::Listener(asio::io_context& io, const ListenConfig& config,
                   const Swappable<SessionSettings>& settings, const SmtpServices& services,
                   ConnectionRegistry& registry)
    : impl_(std::make_unique<Impl>(io, config, settings, services, registry)) {}

Listener::~Listener() = default;

void Listener::start() {
  impl_->acceptor().start();
}

void Listener::stop() {
  impl_->acceptor().stop();
}

const std::string& Listener::address() const {
  return impl_->acceptor().address();
}

}  // namespace herald
