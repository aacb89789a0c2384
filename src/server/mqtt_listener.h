// The MQTT face of heraldd: the broker, who may log in and use which topics, and a
// listening socket for each [[listen]] entry of protocol "mqtt" or "mqtts" (docs/mqtt.md).
// Connections count against [mqtt] max_connections and max_connections_per_ip, apart from
// the SMTP ones; a connection over them is closed at once.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "util/clock.h"

namespace boost::asio {
class io_context;
namespace ssl {
class context;
}
}  // namespace boost::asio

namespace herald {

class MqttFace {
 public:
  // Binds every MQTT listener of `config` at once; throws std::runtime_error naming an
  // address it cannot listen on, ConfigError for an [mqtt] or [[device]] entry the access
  // policy refuses. `tls` (for mqtts listeners) and `clock` must outlive it.
  MqttFace(boost::asio::io_context& io, const Config& config, const Clock& clock,
           boost::asio::ssl::context& tls);
  ~MqttFace();

  // Starts accepting; logs each address.
  void start();
  // Thread-safe. Stops accepting, then asks every connection to end (DISCONNECT 0x8B).
  void shutdown();
  // Blocks until every connection has ended or `timeout` passes; true if none is left.
  bool wait_until_empty(std::chrono::milliseconds timeout);
  size_t open_connections() const;
  bool empty() const;  // no MQTT listener configured

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald
