// One MQTT client's connection: the socket (TLS from the first byte on mqtts listeners), the
// keep-alive and CONNECT deadlines, the login check off the io threads, and the Session
// (mqtt/session.h) that decides everything said on it.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "config/config.h"
#include "mqtt/access_policy.h"
#include "mqtt/broker.h"
#include "mqtt/session.h"
#include "mqtt/store_worker.h"
#include "smtp/auth_failure_limiter.h"
#include "smtp/in_flight_budget.h"
#include "smtp/server_session.h"
#include "util/clock.h"
#include "util/swappable.h"

namespace boost::asio::ssl {
class context;
}

namespace herald {

// What every MQTT connection shares. Each connection keeps it alive to its end: at shutdown
// a connection's frame goes only with the io_context, after the daemon's wiring, and its
// session's messages still hold charges on `memory` then.
struct MqttShared {
  // `clock` must outlive it (the daemon's, declared before the io_context).
  MqttShared(const mqtt::SessionOptions& session_options, const mqtt::BrokerLimits& limits,
             const Config& config, const Clock& clock, Store& store);

  InFlightBudget memory;  // [mqtt] max_bytes_in_flight; options.memory points here
  mqtt::SessionOptions options;
  std::shared_ptr<mqtt::Broker> broker;
  // Who may log in and do what; a SIGHUP replaces it (MqttFace::reload_rights), and a
  // session keeps the grant it logged in with. Throws ConfigError for a bad [mqtt] or
  // [[device]] filter.
  Swappable<mqtt::AccessPolicy> policy;
  // Wrong passwords per client address ([limits] max_auth_failures within
  // auth_failure_window, as for SMTP AUTH): past them a login is refused without the
  // crypt(3) work, so that guessing costs the guesser time and not the login threads.
  AuthFailureLimiter login_failures;
  // What persistent sessions ask of the store (`store` must outlive it).
  mqtt::StoreWorker keeper;
};

// What the connections of one listener share; copied into each.
struct MqttServices {
  std::shared_ptr<MqttShared> shared;
  const Clock& clock;                           // must outlive the io_context
  boost::asio::any_io_executor login_executor;  // where AccessPolicy::login runs (crypt(3))
  boost::asio::any_io_executor store_executor;  // where StoreWorker::perform runs
  boost::asio::ssl::context* tls = nullptr;     // mqtts: TLS from the first byte; null: plain
  std::chrono::seconds connect_timeout{10};     // accepting to CONNECT (and its TLS handshake)
};

// Runs the connection on `socket`'s executor (its strand) to its end, then calls `finished`.
// Returns how to ask it to end (thread-safe; DISCONNECT 0x8B "server shutting down"), which
// does nothing once the connection has ended.
std::function<void()> start_mqtt_connection(boost::asio::ip::tcp::socket socket, PeerInfo peer,
                                            const MqttServices& services, uint64_t id,
                                            std::function<void()> finished);

}  // namespace herald
