// A listening TCP socket for one [[listen]] entry and its accept loop. Each connection is
// handed, on a strand of its own, to the protocol's serve function (server/listener.h for
// SMTP, server/mqtt_listener.h for MQTT), which admits it or turns it away.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>

#include "config/config.h"
#include "smtp/server_session.h"

namespace boost::asio {
class io_context;
}

namespace herald {

class TcpAcceptor {
 public:
  // Called on the acceptor's strand, one call at a time, for each accepted connection,
  // whose socket is bound to a strand of its own (socket.get_executor()) to run it on.
  using Serve = std::function<void(boost::asio::ip::tcp::socket socket, PeerInfo peer)>;

  // Binds and listens at once; throws std::runtime_error naming the address when it cannot.
  TcpAcceptor(boost::asio::io_context& io, const ListenConfig& config, Serve serve);
  ~TcpAcceptor();

  // Starts accepting on the io_context.
  void start();
  // Thread-safe. Stops accepting; open connections go on.
  void stop();

  // "127.0.0.1:2525", "[::1]:2525": the bound address, with the port chosen when 0 was asked.
  const std::string& address() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace herald
