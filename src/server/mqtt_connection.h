// One MQTT client's connection: the socket (TLS from the first byte on mqtts listeners), the
// keep-alive and CONNECT deadlines, the login check off the io threads, and the Session
// (mqtt/session.h) that decides everything said on it.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "mqtt/access_policy.h"
#include "mqtt/broker.h"
#include "mqtt/session.h"
#include "smtp/server_session.h"
#include "util/clock.h"

namespace boost::asio::ssl {
class context;
}

namespace herald {

// What every MQTT connection of a listener shares. All must outlive the connections.
struct MqttServices {
  const mqtt::SessionOptions& options;
  std::shared_ptr<mqtt::Broker> broker;  // shared with every session, which detaches at its end
  const mqtt::AccessPolicy& policy;
  const Clock& clock;
  boost::asio::any_io_executor login_executor;  // where AccessPolicy::login runs (crypt(3))
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
