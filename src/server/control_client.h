// The client end of heraldd's control socket (server/control_protocol.h), for the herald
// CLI: one request, one answer, blocking.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <variant>

#include "server/control_protocol.h"

namespace herald {

// No daemon listens at the path: the socket file is absent, or left by a daemon that died.
class ControlSocketUnreachable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Sends `request` to the control socket at `socket_path` and returns the daemon's answer.
// Waits as long as the daemon takes (a bounce of every message is store work); the daemon
// always answers or closes. Throws ControlSocketUnreachable when no daemon listens there, and
// std::runtime_error when the conversation fails (the daemon closed without an answer, or
// answered something that is not a response line).
ControlResponse send_control_request(const std::filesystem::path& socket_path,
                                     const ControlRequest& request);

// Asks for the MQTT sessions and returns them, or the daemon's `error` text. Throws as
// send_control_request does, and std::runtime_error for a session line it cannot read.
std::variant<mqtt::SessionList, std::string> request_mqtt_sessions(
    const std::filesystem::path& socket_path, const MqttSessionsRequest& request);

}  // namespace herald
