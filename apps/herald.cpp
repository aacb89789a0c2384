// herald: the operator's command line. It finds the daemon's store through the same
// configuration file (DESIGN.md section 7) and opens it read-only, which is safe while
// heraldd runs.
//
//   herald [--config FILE] trace ID
//   herald [--config FILE] queue list [--all] [--state STATE] [--limit N]
//   herald hash-password [--scheme yescrypt|sha512crypt|bcrypt]   (password on stdin)
//
// Exit status: 0 done, 1 not found or the store could not be read (or no hash could be
// made), 2 bad usage or config (or an empty password).
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "directory/password_hash.h"
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
    if (d.notify.given) std::cout << "  " << field_text("notify", to_string(d.notify));
    if (!d.original_recipient.empty()) {
      std::cout << "  " << field_text("orcpt", d.original_recipient);
    }
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

struct ListOptions {
  bool all = false;
  std::string state;  // empty: any
  size_t limit = 0;   // 0: no limit
};

struct ListedMessage {
  MessageRecord message;
  std::vector<Delivery> deliveries;
};

bool matches(const std::vector<Delivery>& deliveries, const ListOptions& options) {
  return std::any_of(deliveries.begin(), deliveries.end(), [&](const Delivery& d) {
    if (!options.state.empty()) return to_string(d.state) == options.state;
    return options.all || !is_terminal(d.state);
  });
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
      if (matches(deliveries, options)) out.push_back({m, std::move(deliveries)});
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
    if (message && matches(deliveries, options)) out.push_back({*message, std::move(deliveries)});
  }
  return out;
}

int queue_list(Store& store, const ListOptions& options) {
  const auto messages = select_messages(store, options);
  if (messages.empty()) {
    std::cout << "queue is empty\n";
    return 0;
  }
  std::vector<std::array<std::string, 5>> rows = {{"ID", "RECEIVED", "SIZE", "FROM", "DELIVERIES"}};
  for (const auto& [m, deliveries] : messages) {
    std::string summary;
    for (const auto& d : deliveries) {
      if (!summary.empty()) summary += " ";
      summary += printable(d.mailbox) + ":" + std::string(to_string(d.state));
    }
    rows.push_back(
        {m.id, format_utc(m.received_at), std::to_string(m.size), sender_text(m), summary});
  }
  std::array<size_t, 4> widths{};
  for (const auto& row : rows) {
    for (size_t i = 0; i < widths.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    for (size_t i = 0; i < widths.size(); ++i) std::cout << padded(row[i], widths[i]) << "  ";
    std::cout << row[4] << "\n";
  }
  return 0;
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

}  // namespace
}  // namespace herald

int main(int argc, char** argv) {
  using namespace herald;
  CLI::App app{"herald: look into a herald mail server's store (safe while heraldd runs)"};
  std::string config_file = "/etc/herald/herald.toml";
  app.add_option("--config", config_file, "configuration file, the one heraldd uses")
      ->capture_default_str();
  app.require_subcommand(1);

  auto* trace_command = app.add_subcommand("trace", "show the history of one message");
  std::string id;
  trace_command->add_option("ID", id, "message id, as in \"250 2.0.0 queued as ID\"")->required();

  auto* queue_command = app.add_subcommand("queue", "look at the queue");
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
  list_command->add_option("--limit", list.limit, "at most N messages (0: all)");

  auto* hash_command = app.add_subcommand(
      "hash-password", "read a password on stdin and print a crypt(3) hash for [[user]]");
  std::string scheme = "yescrypt";
  hash_command->add_option("--scheme", scheme, "hash scheme")
      ->check(CLI::IsMember({"yescrypt", "sha512crypt", "bcrypt"}))
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  if (hash_command->parsed()) return hash_password(scheme);

  std::optional<std::string> message_id;
  if (trace_command->parsed()) {
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

  const std::filesystem::path store_path = config.server.data_dir / "store";
  try {
    auto store = open_rocksdb_store(store_path, StoreMode::read_only);
    if (message_id) return trace(*store, store_path, *message_id);
    return queue_list(*store, list);
  } catch (const StoreError& e) {
    std::cerr << "herald: " << e.what() << "\n";
    return kExitNotFound;
  }
}
