// heraldd: the herald mail server.
//
//   heraldd --config FILE [--log-level LEVEL]
//
// Logs go to stderr. SIGHUP rereads FILE (docs/operations.md, "Reloading"). Exit status: 0 after
// SIGTERM/SIGINT, 1 when it cannot start (store locked, port taken, …), 2 for a bad command line or
// configuration.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <stdexcept>
#include <string>

#include "config/config.h"
#include "server/daemon.h"
#include "util/log.h"

namespace {

constexpr int kExitCannotStart = 1;
constexpr int kExitUsage = 2;

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"heraldd: the herald mail server"};
  std::string config_file;
  std::string log_level;
  app.add_option("--config", config_file, "configuration file (TOML)")->required();
  app.add_option("--log-level", log_level,
                 "trace, debug, info, warn or error; overrides [server] log_level");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }

  herald::Config config;
  try {
    config = herald::load_config(config_file);
    herald::setup_logging(log_level.empty() ? config.server.log_level : log_level);
  } catch (const std::exception& e) {
    std::cerr << "heraldd: " << e.what() << "\n";
    return kExitUsage;
  }

  try {
    return herald::run_daemon(config);
  } catch (const herald::ConfigError& e) {
    spdlog::critical("heraldd: {}", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    spdlog::critical("heraldd cannot start: {}", e.what());
    return kExitCannotStart;
  }
}
