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
#include "mqtt/session_snapshot.h"
#include "store/store.h"
#include "util/clock.h"

namespace boost::asio {
class io_context;
namespace ssl {
class context;
}
}  // namespace boost::asio

namespace herald {

class MqttFace final : public mqtt::SessionDirectory {
 public:
  // Binds every MQTT listener of `config` at once; throws std::runtime_error naming an
  // address it cannot listen on, ConfigError for an [mqtt] or [[device]] entry the access
  // policy refuses. `tls` (for mqtts listeners), `clock` and `store` (where persistent
  // sessions, their queues and retained messages are kept) must outlive it.
  MqttFace(boost::asio::io_context& io, const Config& config, const Clock& clock,
           boost::asio::ssl::context& tls, Store& store);
  ~MqttFace() override;

  // Restores the stored persistent sessions into the broker (blocking on the store), then
  // starts accepting and ending expired sessions; logs each address.
  void start();
  // Thread-safe, blocking (one crypt(3) run): the [[device]] entries and the [mqtt] rights
  // (allow_anonymous, anonymous_publish, anonymous_subscribe, deny) of a reloaded `config`
  // for the logins from now on; sessions logged in keep their grants. `config` was
  // validated by the reload (an AccessPolicy of it constructs).
  void reload_rights(const Config& config);
  // Thread-safe. Stops accepting, then asks every connection to end (DISCONNECT 0x8B).
  void shutdown();
  // Blocks until every connection has ended or `timeout` passes; true if none is left.
  bool wait_until_empty(std::chrono::milliseconds timeout);
  size_t open_connections() const;
  bool empty() const;  // no MQTT listener configured

  // The broker's sessions (mqtt::Broker::snapshot): none when no MQTT listener is configured.
  mqtt::SessionList list_sessions(std::optional<size_t> limit) const override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald
