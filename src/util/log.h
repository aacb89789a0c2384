// Logging setup. herald logs through spdlog's default logger, one line per event, with
// key=value details so that lines can be grepped and parsed (`session=… peer=…`).
#pragma once

#include <string_view>

namespace herald {

// Sets the default logger to write to stderr at `level` ("trace", "debug", "info", "warn",
// "error"). Call once at start-up, before other threads exist. Throws std::invalid_argument
// for an unknown level.
void setup_logging(std::string_view level);

}  // namespace herald
