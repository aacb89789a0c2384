// The herald CLI's commands that do more than read a report out of the store: each is
// called by main (apps/herald.cpp) once the command line is parsed, prints what it did,
// and returns the process's exit status.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>

#include "server/control_protocol.h"

namespace herald {

// Exit status shared by every command (apps/herald.cpp's header comment says what each
// means to the operator).
constexpr int kExitNotFound = 1;
constexpr int kExitUsage = 2;

// Asks the running heraldd, over its control socket at `socket_path`, to change the queue
// as `request` says; prints "VERB TARGET: N deliveries changed". Returns 0, or
// kExitNotFound (with the reason on stderr) when heraldd is not running or refuses.
int run_queue_control(const std::filesystem::path& socket_path, const ControlRequest& request);

// Asks the running heraldd for its MQTT sessions, the first `limit` by client id (nullopt:
// every one), and prints them as a table (server/mqtt_session_listing.h). Returns 0, or
// kExitNotFound (with the reason on stderr) when heraldd is not running or answers an error.
int run_mqtt_sessions(const std::filesystem::path& socket_path, std::optional<size_t> limit);

// Reads a password from stdin (twice, without echo, on a terminal) and prints its
// crypt(3) hash in `scheme_name`, which must be one password_scheme_from_name knows.
// Returns kExitUsage for an empty password or two that differ, kExitNotFound when libcrypt
// makes no hash.
int run_hash_password(const std::string& scheme_name);

// Writes a new DKIM private key ("rsa" or "ed25519") to `key_out`, mode 0600 and never over
// an existing file (a published key must not be lost), and prints the TXT record to publish
// for DOMAIN/SELECTOR. Returns kExitNotFound when the file cannot be made or written.
int run_dkim_keygen(const std::string& domain, const std::string& selector,
                    const std::string& algorithm, const std::filesystem::path& key_out);

}  // namespace herald
