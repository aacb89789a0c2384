// A listening socket for one [[listen]] entry. It accepts connections, turns away those
// over the connection limits with 421 4.7.0, and runs a session for each of the others.
#pragma once

#include <memory>
#include <string>

#include "config/config.h"
#include "server/connection_registry.h"
#include "smtp/server_connection.h"
#include "smtp/server_session.h"
#include "util/swappable.h"

namespace boost::asio {
class io_context;
}

namespace herald {

class Listener {
 public:
  // Binds and listens at once; throws std::runtime_error naming the address when it cannot.
  // Each connection gets `services` with the SessionSettings current in `settings` when it
  // is accepted, and keeps those to its end, whatever a reload swaps in meanwhile
  // (`services.settings` itself is not used). `settings`, `services` and `registry` must
  // outlive the listener and every connection it starts.
  Listener(boost::asio::io_context& io, const ListenConfig& config,
           const Swappable<SessionSettings>& settings, const SmtpServices& services,
           ConnectionRegistry& registry);
  ~Listener();

  // Starts accepting on the io_context.
  void start();
  // Thread-safe. Stops accepting; open sessions go on.
  void stop();

  // "127.0.0.1:2525", "[::1]:2525".
  const std::string& address() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald
