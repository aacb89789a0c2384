// herald's configuration: one TOML file (DESIGN.md section 7), parsed once at start-up into
// these typed structs and validated as a whole. Every limit has a safe default here, so a
// minimal file (hostname, a listener, a domain) is a working server.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace herald {

struct ServerConfig {
  std::string hostname;            // announced in the greeting and Received headers
  std::filesystem::path data_dir;  // store, maildirs, generated TLS pair; made absolute
  std::string log_level = "info";
  unsigned io_threads = 0;  // 0: one per core
};

enum class ListenProtocol { smtp, submission, submissions, mqtt, http };

struct ListenConfig {
  ListenProtocol protocol = ListenProtocol::smtp;
  std::string host;  // numeric IPv4 or IPv6 address
  uint16_t port = 0;
};

struct TlsConfig {
  std::filesystem::path cert;  // empty: a self-signed pair is generated in data_dir/tls
  std::filesystem::path key;
};

struct DnsConfig {
  std::vector<std::string> servers;  // "ip:port"; empty: the system resolver
  std::chrono::seconds timeout{10};   // per lookup; past it the lookup is a temporary failure
};

struct LimitsConfig {
  uint64_t max_message_size = 52428800;       // announced as SIZE, enforced with 552
  uint32_t max_recipients = 1000;             // per message; 452 past it (RFC 5321 4.5.3.1.8)
  uint32_t max_command_line = 2048;           // octets incl. CRLF (RFC 5321 4.5.3.1.4: >= 512)
  uint32_t max_data_line = 10000;             // octets incl. CRLF (RFC 5321 4.5.3.1.6: >= 1000)
  uint32_t max_errors = 10;                   // protocol errors before the session is closed
  std::chrono::seconds command_timeout{300};  // RFC 5321 4.5.3.2.7: at least 5 minutes
  std::chrono::seconds data_timeout{600};     // whole DATA/BDAT transfer (4.5.3.2.6 spirit)
  uint32_t max_connections = 1000;            // concurrent, all listeners
  uint32_t max_connections_per_ip = 50;       // concurrent, per client address
  uint32_t max_auth_failures = 5;             // failed AUTHs per client address and window
  std::chrono::seconds auth_failure_window{std::chrono::minutes(15)};  // then 454 4.7.0
};

struct DomainConfig {
  std::string name;  // lower case
};

struct UserConfig {
  std::string address;        // lower case, local@domain
  std::string password_hash;  // crypt(3); may be empty (no login)
};

struct AliasConfig {
  std::string address;          // lower case
  std::vector<std::string> to;  // lower case
};

struct RouteConfig {
  std::string domain;
  std::string to;  // "host:port"
};

struct QueueConfig {
  std::vector<std::chrono::seconds> retry_backoff{std::chrono::minutes(1), std::chrono::minutes(5),
                                                  std::chrono::minutes(15), std::chrono::hours(1),
                                                  std::chrono::hours(4)};
  std::chrono::seconds max_age{std::chrono::hours(24 * 5)};
  uint32_t max_connections_per_destination = 20;
  uint32_t local_delivery_workers = 8;      // concurrent Maildir deliveries, all mailboxes
  uint32_t max_deliveries_per_mailbox = 2;  // concurrent deliveries into one Maildir
  uint32_t commit_threads = 16;             // threads issuing synced store writes
};

struct DkimConfig {
  std::string domain;
  std::string selector;
  std::filesystem::path key;
};

struct Config {
  std::filesystem::path source;  // the file it came from, absolute
  ServerConfig server;
  std::vector<ListenConfig> listen;
  TlsConfig tls;
  DnsConfig dns;
  LimitsConfig limits;
  std::vector<DomainConfig> domains;
  std::vector<UserConfig> users;
  std::vector<AliasConfig> aliases;
  std::vector<RouteConfig> routes;
  QueueConfig queue;
  std::vector<DkimConfig> dkim;
};

// What is wrong with a configuration file, with its location ("herald.toml:12:3: …").
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads, parses and validates the file. Relative paths in it are resolved against the
// file's own directory. Unknown keys are errors (a typo must not silently mean a default).
// Throws ConfigError.
Config load_config(const std::filesystem::path& file);

// The same, from text; `origin` names it in error messages and anchors relative paths.
Config parse_config(std::string_view toml_text, const std::filesystem::path& origin);

// Parses "90s", "5m", "1h", "5d", "2w" (a bare number is seconds). Throws ConfigError.
std::chrono::seconds parse_duration(std::string_view text);

std::string_view to_string(ListenProtocol protocol);

}  // namespace herald
