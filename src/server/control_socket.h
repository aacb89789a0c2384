// heraldd's control socket: a Unix-domain stream socket (data_dir/control.sock) through which
// `herald queue retry | hold | release | bounce` reach the running daemon's QueueControl, and
// `herald mqtt sessions` its MQTT face's sessions.
// The protocol is in server/control_protocol.h. Who may use it is decided by the file's
// mode, 0600: the user heraldd runs as (and root).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <filesystem>
#include <memory>

#include "mqtt/session_snapshot.h"
#include "queue/queue_control.h"

namespace boost::asio {
class io_context;
}

namespace herald {

// A client that sends no complete request within this time is answered `error` and dropped.
inline constexpr std::chrono::seconds kControlRequestTimeout{10};

class ControlSocket {
 public:
  // Creates the socket file at `path`, mode 0600, and listens; serving starts with start().
  // A socket file already at `path` is a crashed daemon's and is replaced: the caller must be
  // the only daemon on this data directory (the store's lock makes sure of that). Any other
  // kind of file at `path` is left alone and the constructor throws std::runtime_error
  // naming it, as it does when the socket cannot be made.
  //
  // Each request's QueueControl call blocks on the store, so it runs on `blocking_executor`
  // (a thread pool, never the io threads); the connection waits for it on `io`. So does a
  // listing of `sessions`, which holds the broker's lock for as long as its copying takes;
  // null `sessions` (no MQTT face) lists none. `control` and `sessions` must outlive every
  // call: stop the io threads and join that pool before destroying them. Destroy the
  // ControlSocket before `io`.
  ControlSocket(boost::asio::io_context& io, std::filesystem::path path, QueueControl& control,
                const mqtt::SessionDirectory* sessions,
                boost::asio::any_io_executor blocking_executor);
  ~ControlSocket();  // removes the socket file, as stop() does
  ControlSocket(const ControlSocket&) = delete;
  ControlSocket& operator=(const ControlSocket&) = delete;

  // Starts accepting on the io_context.
  void start();

  // Thread-safe, idempotent. Stops accepting and removes the socket file, so that `herald`
  // says the daemon is not running. A request already received still gets its answer.
  void stop();

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace herald
