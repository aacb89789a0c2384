// heraldd's life: start what the configuration describes, serve until SIGTERM or SIGINT,
// then stop in an order that loses nothing acknowledged.
#pragma once

#include "config/config.h"

namespace herald {

// Starts the store, the queue runner and the listeners, gives root up for [server] user
// (server/privileges.h) before anything is served, and serves until SIGTERM/SIGINT.
// SIGHUP rereads config.source (server/config_reload.h).
// On the signal: stops accepting, lets open sessions finish their current message for a
// short, bounded time (sessions waiting for a command hear 421 4.3.2 at once), stops the
// queue runner, and returns 0.
// Throws ConfigError when the configuration asks for what this build cannot do (a listener
// protocol not built yet), and std::exception for other start-up failures (the store is
// locked, a port is taken, the TLS files cannot be made, [server] user is unknown or cannot
// write data_dir). Call setup_logging() first.
int run_daemon(const Config& config);

}  // namespace herald
