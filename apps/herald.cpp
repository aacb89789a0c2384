// herald: the operator's command line. It finds the daemon's store through the same
// configuration file (DESIGN.md section 7) and opens it read-only, which is safe while
// heraldd runs.
//
// Changes to the queue go through the running daemon instead, over its control socket
// (data_dir/control.sock, server/control_protocol.h), because the daemon owns the schedule.
//
//   herald [--config FILE] trace ID
//   herald [--config FILE] queue list [--all] [--state STATE] [--destination DOMAIN]
//                                     [--priority N | --min-priority N] [--limit N]
//   herald [--config FILE] queue show ID
//   herald [--config FILE] queue retry ID|--all
//   herald [--config FILE] queue hold|release|bounce ID
//   herald hash-password [--scheme yescrypt|sha512crypt|bcrypt]   (password on stdin)
//   herald dkim keygen DOMAIN SELECTOR [--algorithm rsa|ed25519] --key-out FILE
//
// Exit status: 0 done, 1 not found, the store could not be read, heraldd is not running or
// refused the change (or no hash could be made, or the key file could not be written),
// 2 bad usage or config (or an empty password).
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "auth/dkim_keygen.h"
#include "config/config.h"
#include "directory/password_hash.h"
#include "server/control_client.h"
#include "store/record_codec.h"
#include "store/store.h"
#include "util/message_id.h"
#include "util/time_text.h"

namespace herald {
namespace {

constexpr int kExitNotFound = 1;
constexpr int kExitUsage = 2;

// Peers choose HELO names, addresses and reply texts: control characters are shown as \xNN
// so that nothing they send can drive the operator's terminal.
std::string printable(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// key=value, with the value in double quotes when it holds spaces, quotes or nothing, so
// that a line splits back into its fields.
std::string field_text(std::string_view key, std::string_view value) {
  const bool plain = !value.empty() && value.find_first_of(" \t\"\\") == std::string_view::npos;
  if (plain) return printable(key) + "=" + printable(value);
  std::string quoted = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return printable(key) + "=" + printable(quoted) + "\"";
}

std::string padded(std::string text, size_t width) {
  if (text.size() < width) text.append(width - text.size(), ' ');
  return text;
}

std::string sender_text(const MessageRecord& m) {
  return "<" + printable(m.envelope.mail_from) + ">";
}

// priority=N  [deliver_by=TIME mode=R|N [trace]]  [ret=FULL|HDRS]  [envid=…]
void print_qos(const Qos& q) {
  std::string line = "qos       priority=" + std::to_string(q.priority);
  if (q.deliver_by_mode != DeliverByMode::none) {
    line += "  deliver_by=" + format_utc(q.deliver_by) + "  " +
            field_text("mode", to_string(q.deliver_by_mode));
    if (q.deliver_by_trace) line += "  trace";
  }
  if (q.ret != DsnReturn::unspecified) line += "  " + field_text("ret", to_string(q.ret));
  if (!q.envid.empty()) line += "  " + field_text("envid", q.envid);
  std::cout << line << "\n";
}

void print_message_header(const MessageRecord& m) {
  const Envelope& e = m.envelope;
  std::string to;
  for (const auto& rcpt : e.rcpt_to) to += (to.empty() ? "<" : " <") + printable(rcpt) + ">";
  std::cout << "message   " << m.id << "\n"
            << "received  " << format_utc(m.received_at) << "\n"
            << "size      " << m.size << " octets\n"
            << "from      " << sender_text(m) << "\n"
            << "to        " << to << "\n"
            << "peer      " << printable(e.peer_ip) << ":" << e.peer_port << "  "
            << field_text("helo", e.helo) << "  " << field_text("listener", e.listener) << "  "
            << field_text("protocol", e.protocol) << "\n"
            << "tls       "
            << (e.tls_version.empty() ? std::string("none")
                                      : printable(e.tls_version) + " " + printable(e.tls_cipher))
            << "\n";
  if (!e.authenticated_as.empty()) {
    std::cout << "auth      " << printable(e.authenticated_as) << "\n";
  }
  if (!e.body_type.empty()) {
    std::cout << "body      " << printable(e.body_type) << (e.smtputf8 ? "  smtputf8" : "") << "\n";
  }
  print_qos(m.qos);
}

// TIME  TYPE  [RECIPIENT]  key=value …, with TYPE and RECIPIENT in aligned columns.
void print_ledger(const std::vector<LedgerEvent>& ledger) {
  size_t type_width = 0;
  size_t recipient_width = 0;
  for (const auto& e : ledger) {
    type_width = std::max(type_width, printable(e.type).size());
    recipient_width = std::max(recipient_width, printable(e.recipient).size());
  }
  for (const auto& e : ledger) {
    std::string line = format_utc(e.at) + "  " + padded(printable(e.type), type_width);
    if (recipient_width > 0) line += "  " + padded(printable(e.recipient), recipient_width);
    for (const auto& [key, value] : e.fields) line += "  " + field_text(key, value);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << "\n";
  }
}

void print_deliveries(const std::vector<Delivery>& deliveries) {
  std::cout << "deliveries\n";
  for (const auto& d : deliveries) {
    std::string who = printable(d.mailbox);
    if (d.recipient != d.mailbox) who = printable(d.recipient) + " -> " + who;
    std::cout << "  " << who << "  " << to_string(d.state) << "  attempts=" << d.attempts;
    if (!is_terminal(d.state)) std::cout << "  next_attempt=" << format_utc(d.next_attempt);
    if (d.held) std::cout << "  held";
    if (d.notify.given) std::cout << "  " << field_text("notify", to_string(d.notify));
    if (!d.original_recipient.empty()) {
      std::cout << "  " << field_text("orcpt", d.original_recipient);
    }
    if (!d.envelope_sender.empty()) std::cout << "  " << field_text("mail_from", d.envelope_sender);
    if (!d.last_reply.empty()) std::cout << "  " << field_text("last_reply", d.last_reply);
    std::cout << "\n";
  }
}

// The id as stored (Crockford base32 is case-insensitive; ids are stored in upper case), or
// nullopt when `given` is not a message id at all.
std::optional<std::string> message_id_from_user(std::string_view given) {
  std::string id(given);
  std::transform(id.begin(), id.end(), id.begin(), [](unsigned char c) { return std::toupper(c); });
  if (!is_message_id(id)) return std::nullopt;
  return id;
}

int trace(Store& store, const std::filesystem::path& store_path, const std::string& id) {
  const auto message = store.message(id);
  if (!message) {
    std::cerr << "herald: no message " << id << " in " << store_path.string() << "\n";
    return kExitNotFound;
  }
  print_message_header(*message);
  std::cout << "\n";
  print_ledger(store.ledger(id));
  std::cout << "\n";
  print_deliveries(store.deliveries(id));
  return 0;
}

// One delivery in full, a field a line: what `queue show` prints for each.
void print_delivery_details(const Delivery& d) {
  const auto row = [](std::string_view name, const std::string& value) {
    std::cout << "  " << padded(std::string(name), 14) << value << "\n";
  };
  std::cout << "delivery " << d.index << "\n";
  row("recipient", printable(d.recipient));
  row("mailbox", printable(d.mailbox));
  row("transport", printable(d.transport));
  row("state", std::string(to_string(d.state)));
  row("held", d.held ? "yes (until herald queue release)" : "no");
  row("attempts", std::to_string(d.attempts));
  if (!is_terminal(d.state)) row("next_attempt", format_utc(d.next_attempt));
  if (d.notify.given) row("notify", std::string(to_string(d.notify)));
  if (!d.original_recipient.empty()) row("orcpt", printable(d.original_recipient));
  if (!d.envelope_sender.empty()) row("mail_from", printable(d.envelope_sender));
  if (d.delay_notified) row("delay_dsn", "sent");
  row("last_reply", d.last_reply.empty() ? "-" : printable(d.last_reply));
}

int queue_show(Store& store, const std::filesystem::path& store_path, const std::string& id) {
  const auto message = store.message(id);
  if (!message) {
    std::cerr << "herald: no message " << id << " in " << store_path.string() << "\n";
    return kExitNotFound;
  }
  print_message_header(*message);
  for (const Delivery& d : store.deliveries(id)) {
    std::cout << "\n";
    print_delivery_details(d);
  }
  return 0;
}

struct ListOptions {
  bool all = false;
  std::string state;                // empty: any
  std::string destination;          // recipient domain, lower case; empty: any
  std::optional<int> priority;      // the message's priority is exactly this
  std::optional<int> min_priority;  // the message's priority is at least this
  size_t limit = 0;                 // 0: no limit
};

struct ListedMessage {
  MessageRecord message;
  std::vector<Delivery> deliveries;
};

std::string lower_case(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

// The domain of the final address (a local mailbox or a remote recipient).
std::string destination_of(const Delivery& d) {
  const size_t at = d.mailbox.rfind('@');
  return at == std::string::npos ? std::string() : lower_case(d.mailbox.substr(at + 1));
}

bool delivery_matches(const Delivery& d, const ListOptions& options) {
  if (!options.state.empty()) {
    if (to_string(d.state) != options.state) return false;
  } else if (!options.all && is_terminal(d.state)) {
    return false;
  }
  return options.destination.empty() || destination_of(d) == options.destination;
}

bool matches(const MessageRecord& m, const std::vector<Delivery>& deliveries,
             const ListOptions& options) {
  if (options.priority && m.qos.priority != *options.priority) return false;
  if (options.min_priority && m.qos.priority < *options.min_priority) return false;
  return std::any_of(deliveries.begin(), deliveries.end(),
                     [&](const Delivery& d) { return delivery_matches(d, options); });
}

// Newest first. Messages with work left are found through the pending set; a terminal
// state or --all needs a walk over every message.
std::vector<ListedMessage> select_messages(Store& store, const ListOptions& options) {
  std::vector<ListedMessage> out;
  const auto want = [&](size_t have) { return options.limit == 0 || have < options.limit; };
  const auto state = parse_delivery_state(options.state);
  if (options.all || (state && is_terminal(*state))) {
    store.for_each_message([&](const MessageRecord& m) {
      auto deliveries = store.deliveries(m.id);
      if (matches(m, deliveries, options)) out.push_back({m, std::move(deliveries)});
      return want(out.size());
    });
    return out;
  }
  std::vector<std::string> ids;
  for (const Delivery& d : store.pending_deliveries()) {
    if (ids.empty() || ids.back() != d.message_id) ids.push_back(d.message_id);
  }
  for (auto id = ids.rbegin(); id != ids.rend() && want(out.size()); ++id) {
    auto message = store.message(*id);
    auto deliveries = store.deliveries(*id);
    if (message && matches(*message, deliveries, options)) {
      out.push_back({*message, std::move(deliveries)});
    }
  }
  return out;
}

int queue_list(Store& store, const ListOptions& options) {
  const auto messages = select_messages(store, options);
  if (messages.empty()) {
    std::cout << "queue is empty\n";
    return 0;
  }
  // DELIVERIES: mailbox:state for each, with "(held)" after those an operator holds.
  std::vector<std::array<std::string, 6>> rows = {
      {"ID", "RECEIVED", "SIZE", "PRIO", "FROM", "DELIVERIES"}};
  for (const auto& [m, deliveries] : messages) {
    std::string summary;
    for (const auto& d : deliveries) {
      if (!summary.empty()) summary += " ";
      summary += printable(d.mailbox) + ":" + std::string(to_string(d.state));
      if (d.held) summary += "(held)";
    }
    rows.push_back({m.id, format_utc(m.received_at), std::to_string(m.size),
                    std::to_string(m.qos.priority), sender_text(m), summary});
  }
  std::array<size_t, 5> widths{};
  for (const auto& row : rows) {
    for (size_t i = 0; i < widths.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    for (size_t i = 0; i < widths.size(); ++i) std::cout << padded(row[i], widths[i]) << "  ";
    std::cout << row[5] << "\n";
  }
  return 0;
}

// Asks the running daemon to change the queue; prints what changed.
int queue_control(const std::filesystem::path& socket_path, const ControlRequest& request) {
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

// One line of stdin without its line ending; on a terminal, without echo, after `prompt`.
std::string read_password_line(bool terminal, const char* prompt) {
  termios saved{};
  if (terminal) {
    std::cerr << prompt << std::flush;
    tcgetattr(STDIN_FILENO, &saved);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (terminal) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    std::cerr << "\n";
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// Prints a crypt(3) hash for a [[user]] password_hash. On a terminal the password is asked
// twice, so that a typo does not lock the user out.
int hash_password(const std::string& scheme_name) {
  const PasswordScheme scheme = *password_scheme_from_name(scheme_name);
  const bool terminal = isatty(STDIN_FILENO) != 0;
  const std::string password = read_password_line(terminal, "Password: ");
  if (password.empty()) {
    std::cerr << "herald: empty password; nothing to hash\n";
    return kExitUsage;
  }
  if (terminal && read_password_line(terminal, "Again: ") != password) {
    std::cerr << "herald: the passwords differ\n";
    return kExitUsage;
  }
  const std::optional<std::string> hash = make_password_hash(password, scheme);
  if (!hash) {
    std::cerr << "herald: libcrypt could not make a " << scheme_name << " hash\n";
    return kExitNotFound;
  }
  std::cout << *hash << "\n";
  return 0;
}

// Writes a new DKIM private key to `key_out` (mode 0600, never over an existing file, so
// that a published key is not lost) and prints the TXT record to publish.
int dkim_keygen(const std::string& domain, const std::string& selector,
                const std::string& algorithm, const std::string& key_out) {
  const DkimKeyPair pair = generate_dkim_key(
      algorithm == "ed25519" ? DkimKeyRecord::KeyType::ed25519 : DkimKeyRecord::KeyType::rsa);
  const int fd = ::open(key_out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::cerr << "herald: cannot create " << key_out << ": " << std::strerror(errno)
              << " (an existing key file is never overwritten)\n";
    return kExitNotFound;
  }
  const std::string& pem = pair.private_key_pem;
  const bool written = ::write(fd, pem.data(), pem.size()) == static_cast<ssize_t>(pem.size());
  if (::close(fd) != 0 || !written) {
    std::cerr << "herald: cannot write " << key_out << ": " << std::strerror(errno) << "\n";
    return kExitNotFound;
  }
  std::cout << dkim_zone_line(lower_case(domain), lower_case(selector), pair.key_record) << "\n";
  return 0;
}

}  // namespace
}  // namespace herald

int main(int argc, char** argv) {
  using namespace herald;
  CLI::App app{
      "herald: look into a herald mail server's store (safe while heraldd runs) "
      "and change its queue"};
  std::string config_file = "/etc/herald/herald.toml";
  app.add_option("--config", config_file, "configuration file, the one heraldd uses")
      ->capture_default_str();
  app.require_subcommand(1);

  std::string id;  // the ID of whichever command takes one
  const auto add_id = [&id](CLI::App* command) {
    return command->add_option("ID", id, "message id, as in \"250 2.0.0 queued as ID\"");
  };
  auto* trace_command = app.add_subcommand("trace", "show the history of one message");
  add_id(trace_command)->required();

  auto* queue_command = app.add_subcommand("queue", "look at the queue, or change it");
  queue_command->require_subcommand(1);
  auto* list_command =
      queue_command->add_subcommand("list", "list messages that still have deliveries to make");
  ListOptions list;
  list_command->add_flag("--all", list.all, "list every message in the store");
  std::vector<std::string> state_names;
  for (auto state : {DeliveryState::queued, DeliveryState::attempting, DeliveryState::deferred,
                     DeliveryState::delivered, DeliveryState::bounced, DeliveryState::expired,
                     DeliveryState::discarded}) {
    state_names.emplace_back(to_string(state));
  }
  list_command->add_option("--state", list.state, "only messages with a delivery in STATE")
      ->check(CLI::IsMember(state_names));
  list_command->add_option("--destination", list.destination,
                           "only messages with a delivery to a recipient in DOMAIN");
  auto* priority_option =
      list_command->add_option("--priority", list.priority, "only messages of priority N")
          ->check(CLI::Range(-9, 9));
  list_command
      ->add_option("--min-priority", list.min_priority, "only messages of priority N or higher")
      ->check(CLI::Range(-9, 9))
      ->excludes(priority_option);
  list_command->add_option("--limit", list.limit, "at most N messages (0: all)");

  auto* show_command = queue_command->add_subcommand(
      "show", "show one message's envelope, QoS and each delivery in full");
  add_id(show_command)->required();

  // The changes, carried out by the running heraldd.
  struct ControlCommand {
    CLI::App* command;
    ControlVerb verb;
  };
  bool retry_all = false;
  auto* retry_command = queue_command->add_subcommand(
      "retry", "make a message's waiting deliveries (or every message's, --all) due now");
  add_id(retry_command)->excludes(retry_command->add_flag("--all", retry_all, "every message"));
  const std::array<ControlCommand, 4> control_commands = {{
      {retry_command, ControlVerb::retry},
      {queue_command->add_subcommand("hold", "start no attempt for a message until release"),
       ControlVerb::hold},
      {queue_command->add_subcommand("release", "return a held message to the schedule, due now"),
       ControlVerb::release},
      {queue_command->add_subcommand(
           "bounce", "give up a message's deliveries now, with a failure DSN to the sender"),
       ControlVerb::bounce},
  }};
  for (const auto& [command, verb] : control_commands) {
    if (verb != ControlVerb::retry) add_id(command)->required();
  }

  auto* hash_command = app.add_subcommand(
      "hash-password", "read a password on stdin and print a crypt(3) hash for [[user]]");
  std::string scheme = "yescrypt";
  hash_command->add_option("--scheme", scheme, "hash scheme")
      ->check(CLI::IsMember({"yescrypt", "sha512crypt", "bcrypt"}))
      ->capture_default_str();

  auto* dkim_command = app.add_subcommand("dkim", "DKIM signing keys");
  dkim_command->require_subcommand(1);
  auto* keygen_command = dkim_command->add_subcommand(
      "keygen", "make a signing key for [[dkim]] and print the DNS TXT record to publish");
  std::string dkim_domain, dkim_selector, dkim_algorithm = "rsa", key_out;
  keygen_command->add_option("DOMAIN", dkim_domain, "the signing domain (d=)")->required();
  keygen_command->add_option("SELECTOR", dkim_selector, "the selector (s=)")->required();
  keygen_command->add_option("--algorithm", dkim_algorithm, "rsa (2048 bits) or ed25519")
      ->check(CLI::IsMember({"rsa", "ed25519"}))
      ->capture_default_str();
  keygen_command->add_option("--key-out", key_out, "where to write the private key (PEM)")
      ->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  if (hash_command->parsed()) return hash_password(scheme);
  if (keygen_command->parsed())
    return dkim_keygen(dkim_domain, dkim_selector, dkim_algorithm, key_out);
  if (retry_command->parsed() && !retry_all && id.empty()) {
    std::cerr << "herald: queue retry needs a message ID or --all\n";
    return kExitUsage;
  }
  list.destination = lower_case(list.destination);

  std::optional<std::string> message_id;
  if (!id.empty()) {
    message_id = message_id_from_user(id);
    if (!message_id) {
      std::cerr << "herald: '" << printable(id)
                << "' is not a message id (26 characters of Crockford base32, as in "
                   "\"250 2.0.0 queued as ID\")\n";
      return kExitUsage;
    }
  }

  Config config;
  try {
    config = load_config(config_file);
  } catch (const std::exception& e) {
    std::cerr << "herald: " << e.what() << "\n";
    return kExitUsage;
  }

  for (const auto& [command, verb] : control_commands) {
    if (command->parsed()) {
      return queue_control(control_socket_path(config.server.data_dir),
                           ControlRequest{verb, message_id.value_or("")});
    }
  }

  const std::filesystem::path store_path = config.server.data_dir / "store";
  try {
    auto store = open_rocksdb_store(store_path, StoreMode::read_only);
    if (trace_command->parsed()) return trace(*store, store_path, *message_id);
    if (show_command->parsed()) return queue_show(*store, store_path, *message_id);
    return queue_list(*store, list);
  } catch (const StoreError& e) {
    std::cerr << "herald: " << e.what() << "\n";
    return kExitNotFound;
  }
}
