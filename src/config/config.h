// herald's configuration: one TOML file (DESIGN.md section 7), parsed once at start-up into
// these typed structs and validated as a whole. Every limit has a safe default here, so a
// minimal file (hostname, a listener, a domain) is a working server.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace herald {

struct ServerConfig {
  std::string hostname;            // announced in the greeting and Received headers
  std::filesystem::path data_dir;  // store, maildirs, generated TLS pair; made absolute
  std::string log_level = "info";
  unsigned io_threads = 0;  // 0: one per core
  // Clients connecting from these networks ("127.0.0.0/8", "2001:db8::/32") may relay
  // without AUTH, as Postfix's mynetworks, and their MT-PRIORITY is honoured. They are not
  // authenticated senders: failure DSNs are not sent to them (no backscatter).
  std::vector<std::string> trusted_networks;
  // Started as root, heraldd opens its listeners, keys and store, then runs as this user
  // (server/privileges.h). Empty (not set): "herald" when started as root, and whoever it
  // was started as otherwise. "root" keeps root, with a warning. Looked up when heraldd
  // starts, not here: the user belongs to the machine, not to the file.
  std::string user;
  std::string group;  // empty: the user's primary group
};

enum class ListenProtocol { smtp, submission, submissions, mqtt, mqtts, http };

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
  std::chrono::seconds timeout{10};  // per lookup; past it the lookup is a temporary failure
};

struct LimitsConfig {
  uint64_t max_message_size = 52428800;       // announced as SIZE, enforced with 552
  uint32_t max_recipients = 1000;             // per message; 452 past it (RFC 5321 4.5.3.1.8)
  uint32_t max_command_line = 2048;           // octets incl. CRLF (RFC 5321 4.5.3.1.4: >= 512)
  uint32_t max_data_line = 10000;             // octets incl. CRLF (RFC 5321 4.5.3.1.6: >= 1000)
  uint32_t max_errors = 10;                   // protocol errors before the session is closed
  std::chrono::seconds command_timeout{300};  // RFC 5321 4.5.3.2.7: at least 5 minutes
  std::chrono::seconds data_timeout{180};     // per DATA/BDAT block read (RFC 5321 4.5.3.2.5)
  uint32_t max_connections = 1000;            // concurrent, all listeners
  uint32_t max_connections_per_ip = 50;       // concurrent, per client address
  uint32_t max_auth_failures = 5;             // failed AUTHs per client address and window
  std::chrono::seconds auth_failure_window{std::chrono::minutes(15)};  // then 454 4.7.0
  // RFC 2852 2: the shortest BY= time with mode R accepted, announced as DELIVERBY.
  std::chrono::seconds min_deliver_by{60};
  uint64_t max_header_size = 1048576;    // octets of a message's header section; 552 5.3.4 past it
  uint32_t max_hops = 100;               // Received/Delivered-To fields (RFC 5321 6.3); 554 5.4.6
  uint32_t max_non_mail_commands = 100;  // NOOP, RSET, VRFY, HELP… per session; 421 4.7.0
  std::chrono::seconds max_session_time{std::chrono::minutes(30)};  // then 421 4.4.2
  // herald's own time from the final dot to its answer (checks and seal; the commit is never
  // cut short): below the client's 10 minutes of RFC 5321 4.5.3.2.6. Then 421 4.4.2.
  std::chrono::seconds end_of_data_timeout{std::chrono::minutes(5)};
  // DATA/BDAT content held in memory by all sessions together; 452 4.3.1 past it.
  uint64_t max_bytes_in_flight = 268435456;
  uint32_t max_srs_failures = 10;  // bad SRS hashes per client within auth_failure_window
  // Threads hashing bodies and checking DKIM/ARC signatures (0 to 64); 0: half the cores,
  // at least 1 and at most 8 (server/sender_verification.cpp, verify_thread_count).
  uint32_t verify_threads = 0;
};

struct DomainConfig {
  std::string name;  // lower case
};

struct UserConfig {
  std::string address;        // lower case, local@domain
  std::string password_hash;  // crypt(3); may be empty (no login)
};

// An alias expands to local users and aliases, and to remote addresses (any domain that has
// no [[domain]] entry), which herald forwards to with an SRS sender (see [srs]).
struct AliasConfig {
  std::string address;          // lower case
  std::vector<std::string> to;  // lower case
};

// A static next hop for a domain: its mail goes there instead of to its MX hosts.
struct RouteConfig {
  std::string domain;  // lower case
  std::string to;      // as written: "host", "host:port", "[ipv6]:port"
  std::string host;    // a numeric address or a host name (resolved by A/AAAA, not MX)
  uint16_t port = 25;
};

struct QueueConfig {
  std::vector<std::chrono::seconds> retry_backoff{std::chrono::minutes(1), std::chrono::minutes(5),
                                                  std::chrono::minutes(15), std::chrono::hours(1),
                                                  std::chrono::hours(4)};
  std::chrono::seconds max_age{std::chrono::hours(24 * 5)};
  uint32_t max_connections_per_destination = 20;
  uint32_t local_delivery_workers = 8;      // concurrent Maildir deliveries, all mailboxes
  uint32_t max_deliveries_per_mailbox = 8;  // concurrent deliveries into one Maildir
  uint32_t commit_threads = 16;             // threads issuing synced store writes
  // Outbound SMTP attempts in progress at once, all destinations (like Postfix's smtp process
  // limit). Each is a coroutine on the outbound io thread, not a thread of its own.
  uint32_t remote_delivery_workers = 100;
  // Of remote_delivery_workers, the attempts only priority > 0 may start, so that a queue
  // full of bulk mail to slow destinations still starts urgent mail at once.
  uint32_t reserved_attempts_for_urgent = 10;
  // Of max_connections_per_destination, the connections only priority > 0 may use.
  uint32_t reserved_for_urgent = 1;
  // Every Nth attempt started goes to the oldest waiting delivery, whatever its priority;
  // 0 turns this off (strict priority order).
  uint32_t fair_share_every = 8;
  std::optional<uint32_t> max_attempts;  // default retry budget in attempts; none: max_age only
  // A delayed delivery still undelivered this long after arrival gets one delay DSN
  // (RFC 3464 "delayed"), as its NOTIFY asks. 0: no delay warnings.
  std::chrono::seconds delay_warning{std::chrono::hours(4)};
  // Deliveries the queue holds in memory per transport (its window onto the store's due
  // index, like Postfix's qmgr_message_active_limit); the rest wait only in the store.
  uint32_t active_limit = 10000;
  // How long a message whose every delivery is final keeps its record and ledger (what
  // `herald trace` reads) before the queue removes them. 0: kept forever.
  std::chrono::seconds retain{std::chrono::hours(24 * 30)};
  // A DSN returns the whole message (RET=FULL, or no RET and a small message) only up to
  // this many octets; above it, its header section, and the DSN says so.
  uint64_t dsn_max_returned_size = 1048576;
  // Free bytes the file systems of data_dir (store, mailboxes) must keep; below it MAIL gets
  // 452 4.3.1 and local delivery pauses. When the file leaves it out: 2 × [limits]
  // max_message_size, room for the largest message being written plus as much again for the
  // store's log and compaction. 0: not checked; otherwise at least 1.5 × max_message_size
  // (Postfix's queue_minfree rule). Read from [limits] min_free_space too, its old place.
  uint64_t min_free_space = 104857600;
};

// [[destination]]: limits and a retry budget for one recipient domain. Whatever is not set
// is taken from [queue] when the file is read, so every field holds the value in force.
struct DestinationConfig {
  std::string domain;  // lower case
  uint32_t max_connections = 20;
  uint32_t reserved_for_urgent = 1;
  uint32_t rate_attempts = 0;             // "rate = \"10/1m\"": at most 10 attempts a minute;
  std::chrono::seconds rate_interval{0};  // 0 attempts: no rate limit
  std::vector<std::chrono::seconds> retry_backoff;
  std::chrono::seconds max_age{0};
  std::optional<uint32_t> max_attempts;
};

// [outbound]: how herald talks to other servers when it relays (RFC 5321 4.5.3.2 timeouts).
struct OutboundConfig {
  std::string helo_name;  // the name sent in EHLO; empty in the file: [server] hostname
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds command_timeout{300};  // EHLO, HELO, STARTTLS, RSET, QUIT: 5 minutes
  std::chrono::seconds data_timeout{600};     // the reply to the end of data: 10 minutes
  // RFC 5321 4.5.3.2's other waits. Unset in the file, greeting, MAIL and RCPT take
  // command_timeout (which covered them before these keys existed).
  std::chrono::seconds greeting_timeout{300};
  std::chrono::seconds mail_timeout{300};
  std::chrono::seconds rcpt_timeout{300};
  std::chrono::seconds data_init_timeout{120};   // the 354 to DATA
  std::chrono::seconds data_block_timeout{180};  // each block of content written
  // One attempt from start to outcome: DNS, every host and address tried, the transaction.
  // Per-wait timeouts alone let a peer that answers just in time hold a slot for hours.
  std::chrono::seconds attempt_timeout{900};
  uint32_t max_mx_hosts = 5;              // MX hosts tried per attempt, most preferred first
  uint32_t max_addresses = 10;            // addresses connected to per attempt, all hosts together
  std::chrono::seconds idle_timeout{30};  // an idle connection is kept this long for reuse
  uint32_t max_messages_per_connection = 100;
  bool opportunistic_tls = true;  // STARTTLS whenever the peer offers it (RFC 3207)
  uint16_t mx_port = 25;          // the port of MX hosts; only labs and tests change it
};

// [policy]: what herald does with what it verified about mail from the internet, that is
// from clients that neither authenticated nor connect from [server] trusted_networks.
enum class SpfFailAction { accept, reject };
enum class DmarcRejectAction { reject, quarantine };
struct PolicyConfig {
  // SPF at MAIL FROM, DKIM and DMARC at the end of data, results in Authentication-Results
  // and the ledger. Off only where DNS cannot answer (benchmarks, isolated labs).
  bool verify_inbound = true;
  // SPF "fail": accept (recorded; DMARC decides) or reject at MAIL FROM with 550 5.7.23.
  SpfFailAction spf_fail = SpfFailAction::accept;
  // A message failing DMARC whose domain asks p=reject: refused at the end of data with
  // 550 5.7.1, or delivered quarantined (a header and a ledger event) like p=quarantine.
  DmarcRejectAction dmarc_reject = DmarcRejectAction::reject;
  // DKIM-Signature fields checked per received message, From-aligned then topmost first (1 to
  // 50); the rest get one dkim=policy result together. Bounds the key lookups and RSA/Ed25519
  // operations. Read from [limits] max_dkim_signatures too, its old place.
  uint32_t max_signatures = 5;
};

// [arc]: the key herald seals forwarded mail with (RFC 8617 5.1); no `key`, no sealing.
struct ArcSealConfig {
  std::string domain;  // d= of the seal; the key record lives at selector._domainkey.domain
  std::string selector;
  std::filesystem::path key;  // empty: [arc] is absent
};

// [srs]: the Sender Rewriting Scheme for forwarded mail. The forwarded copy leaves with a
// return path in `domain` that herald signed, so the next hop's SPF check passes for herald,
// and a bounce to it finds the original sender.
struct SrsConfig {
  std::string domain;  // lower case; empty in the file: [server] hostname
  // At most one of the two; neither: heraldd keeps a generated secret in data_dir/srs.secret.
  std::string secret;
  std::filesystem::path secret_file;
  // Accepted when a bounce comes back, never used to sign: the secrets rotated out.
  std::vector<std::string> previous_secrets;
  std::chrono::seconds max_age{std::chrono::hours(24 * 21)};  // a bounce older is refused
};

// [mqtt]: the MQTT face (docs/mqtt.md). Who may publish and subscribe where: [[device]]
// entries, anonymous clients only when allow_anonymous, and `deny` for everybody.
enum class QueueFullAction { refuse, dead_letter };
struct MqttConfig {
  bool allow_anonymous = false;
  std::vector<std::string> anonymous_publish;    // topic filters an anonymous client may publish to
  std::vector<std::string> anonymous_subscribe;  // and subscribe to (a filter inside one of them)
  std::vector<std::string> deny;  // filters nobody may publish to (0x87) or subscribe to (0x80)
  std::chrono::seconds max_keepalive{300};          // told as Server Keep Alive (MQTT 5)
  std::chrono::seconds max_session_expiry{std::chrono::hours(24 * 7)};
  std::chrono::seconds connect_timeout{10};  // from accepting a connection to its CONNECT
  uint32_t receive_maximum = 100;            // QoS > 0 PUBLISHes unacked from a client (1..65535)
  uint32_t max_in_flight = 100;              // QoS > 0 PUBLISHes unacked towards a client (1..65535)
  uint32_t max_packet_size = 1048576;        // octets, whole packet (at least 64)
  uint32_t topic_alias_maximum = 16;         // aliases a client may set (0..65535)
  uint32_t max_client_id_length = 256;       // octets (at least 23, MQTT 5 3.1.3.1)
  uint32_t max_topic_length = 1024;          // octets of a topic name or filter (1..65535)
  uint32_t max_topic_levels = 32;            // levels of a topic name or filter (1..1024)
  uint32_t max_subscriptions = 100;          // filters per session; SUBACK 0x97 past it
  uint32_t max_queued_messages = 1000;       // per session, waiting and in flight
  uint64_t max_queued_bytes = 16777216;      // payload octets per session, waiting and in flight
  // What a publish finds when a subscriber's queue is full: refused (0x97) or the oldest
  // lowest-priority message moved to a dead-letter record to make room.
  QueueFullAction queue_full = QueueFullAction::refuse;
  bool dead_letter_events = false;            // publish an event on $herald/dead-letter/CLIENT
  uint32_t max_connections = 100000;          // MQTT connections, all mqtt listeners
  uint32_t max_connections_per_ip = 1000;     // per client address (IPv4, or IPv6 /64)
};

// [[device]]: an MQTT client identity and the topics it may use (filters, MQTT 5 4.7).
struct DeviceConfig {
  std::string username;       // as the client sends it in CONNECT; case-sensitive
  std::string password_hash;  // crypt(3), as `herald hash-password` prints
  std::vector<std::string> publish;
  std::vector<std::string> subscribe;
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
  std::vector<DestinationConfig> destinations;
  OutboundConfig outbound;
  PolicyConfig policy;
  ArcSealConfig arc;
  SrsConfig srs;
  std::vector<DkimConfig> dkim;
  MqttConfig mqtt;
  std::vector<DeviceConfig> devices;
  // What the file says that still works but should be changed (a key under its old name), one
  // sentence each; heraldd logs them as warnings when it starts.
  std::vector<std::string> warnings;
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
