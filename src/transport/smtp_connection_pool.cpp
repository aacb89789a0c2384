// The SMTP transport's connections between messages (transport/smtp_transport.h): kept per
// destination while they may carry more, said QUIT to when their idle time or message count
// runs out, closed at shutdown.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <utility>

#include "transport/smtp_transport_impl.h"

namespace herald {

using namespace smtp_out;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// RFC 5321 4.1.1.10: QUIT, then the reply, then the close; bounded by the command timeout.
asio::awaitable<void> SmtpTransport::Impl::quit(OutboundConnectionPtr connection) {
  busy_.insert(connection);
  connection->begin_attempt(SteadyClock::time_point::max());
  ClientStep first = connection->session().quit();
  co_await connection->drive(std::move(first));
  busy_.erase(connection);
}

OutboundConnectionPtr SmtpTransport::Impl::make_connection(const ClientSettings& settings,
                                                           const std::string& host,
                                                           tcp::endpoint endpoint,
                                                           const std::string& destination) {
  auto connection = std::make_shared<OutboundConnection>(strand_, tls_context_, settings, config_,
                                                         host, std::move(endpoint), destination);
  if (shut_down_) connection->cancel();  // shutdown() came after the attempt began
  busy_.insert(connection);
  // Past its idle time, a pooled connection leaves the pool and says QUIT.
  connection->start_timer([weak = weak_from_this()](OutboundConnectionPtr expired) {
    const std::shared_ptr<Impl> self = weak.lock();
    if (!self) return;
    self->forget(expired);
    asio::co_spawn(self->strand_, self->quit(expired), asio::detached);
  });
  return connection;
}

// After a message or a failed opening: a ready connection goes to the pool while it may
// carry more, otherwise it says QUIT; a closed one is dropped.
void SmtpTransport::Impl::finish(const OutboundConnectionPtr& connection, ClientStep::Next next) {
  busy_.erase(connection);
  if (next != ClientStep::Next::ready) {
    connection->close();
  } else if (connection->messages() < config_.max_messages_per_connection && !shut_down_) {
    keep_idle(connection);
  } else {
    asio::co_spawn(strand_, quit(connection), asio::detached);
  }
}

// On strand_: every idle connection says QUIT and closes.
void SmtpTransport::Impl::close_idle() {
  for (auto& [destination, connection] : idle_) {
    connection->end_idle();
    asio::co_spawn(strand_, quit(connection), asio::detached);
  }
  idle_.clear();
}

OutboundConnectionPtr SmtpTransport::Impl::take_idle(const std::string& destination) {
  const auto found = idle_.find(destination);
  if (found == idle_.end()) return nullptr;
  OutboundConnectionPtr connection = found->second;
  idle_.erase(found);
  connection->end_idle();
  busy_.insert(connection);
  return connection;
}

void SmtpTransport::Impl::keep_idle(const OutboundConnectionPtr& connection) {
  connection->become_idle();
  idle_.emplace(connection->destination(), connection);
}

void SmtpTransport::Impl::forget(const OutboundConnectionPtr& connection) {
  const auto [first, last] = idle_.equal_range(connection->destination());
  for (auto it = first; it != last; ++it) {
    if (it->second == connection) {
      idle_.erase(it);
      return;
    }
  }
}

}  // namespace herald
