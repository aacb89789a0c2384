// herald queue retry | hold | release | bounce: the changes the running heraldd makes,
// asked for over its control socket because the daemon owns the schedule.
#include <iostream>
#include <string>

#include "herald_commands.h"
#include "server/control_client.h"
#include "server/printable_text.h"

namespace herald {

int run_queue_control(const std::filesystem::path& socket_path, const ControlRequest& request) {
  const std::string target = request.message_id.empty() ? "--all" : request.message_id;
  const std::string action = std::string(to_string(request.verb)) + " " + target;
  try {
    const ControlResponse response = send_control_request(socket_path, request);
    if (!response.ok) {
      std::cerr << "herald: " << action << ": " << printable(response.error) << "\n";
      return kExitNotFound;
    }
    std::cout << action << ": " << response.changed
              << (response.changed == 1 ? " delivery" : " deliveries") << " changed\n";
    return 0;
  } catch (const ControlSocketUnreachable&) {
    std::cerr << "herald: heraldd is not running (no control socket at " << socket_path.string()
              << ")\n";
  } catch (const std::exception& e) {
    std::cerr << "herald: " << action << ": " << printable(e.what()) << "\n";
  }
  return kExitNotFound;
}

}  // namespace herald
