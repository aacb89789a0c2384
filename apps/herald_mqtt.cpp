// herald mqtt sessions: the MQTT sessions the running heraldd has connected now. They live in
// the daemon's memory, not in the store, so they are asked for over its control socket.
#include <iostream>
#include <string>
#include <variant>

#include "herald_commands.h"
#include "server/control_client.h"
#include "server/mqtt_session_listing.h"
#include "server/printable_text.h"

namespace herald {

int run_mqtt_sessions(const std::filesystem::path& socket_path, std::optional<size_t> limit) {
  try {
    const auto answer = request_mqtt_sessions(socket_path, MqttSessionsRequest{.limit = limit});
    if (const auto* error = std::get_if<std::string>(&answer)) {
      std::cerr << "herald: mqtt sessions: " << printable(*error) << "\n";
      return kExitNotFound;
    }
    const auto& list = std::get<mqtt::SessionList>(answer);
    write_mqtt_sessions(list, std::cout);
    if (list.sessions.size() < list.total) {
      std::cerr << "herald: listed the first " << list.sessions.size() << " by client id; --all "
                << "lists every one\n";
    }
    return 0;
  } catch (const ControlSocketUnreachable&) {
    std::cerr << "herald: heraldd is not running (no control socket at " << socket_path.string()
              << ")\n";
  } catch (const std::exception& e) {
    std::cerr << "herald: mqtt sessions: " << printable(e.what()) << "\n";
  }
  return kExitNotFound;
}

}  // namespace herald
