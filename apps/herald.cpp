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
//   herald [--config FILE] queue list --damaged [--limit N]
//   herald [--config FILE] queue show ID
//   herald [--config FILE] queue retry ID|--all
//   herald [--config FILE] queue hold|release|bounce ID
//   herald [--config FILE] mqtt sessions [--all]
//   herald hash-password [--scheme yescrypt|sha512crypt|bcrypt]   (password on stdin)
//   herald dkim keygen DOMAIN SELECTOR [--algorithm rsa|ed25519] --key-out FILE
//
// Exit status: 0 done, 1 not found, the store could not be read, heraldd is not running or
// refused the change or the listing (or no hash could be made, or the key file could not be
// written), 2 bad usage or config (or an empty password).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cctype>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "herald_commands.h"
#include "server/message_report.h"
#include "server/printable_text.h"
#include "server/queue_listing.h"
#include "store/store.h"
#include "util/ascii.h"
#include "util/message_id.h"

namespace herald {
namespace {

// The id as stored (Crockford base32 is case-insensitive; ids are stored in upper case), or
// nullopt when `given` is not a message id at all.
std::optional<std::string> message_id_from_user(std::string_view given) {
  std::string id(given);
  std::transform(id.begin(), id.end(), id.begin(), [](unsigned char c) { return std::toupper(c); });
  if (!is_message_id(id)) return std::nullopt;
  return id;
}

enum class Report { trace, show, list, damaged };

// The reports read out of the store (opened read-only, safe while heraldd runs).
int run_report(Report report, const std::filesystem::path& store_path, const std::string& id,
               const QueueListFilter& list) {
  try {
    auto store = open_rocksdb_store(store_path, StoreMode::read_only);
    if (report == Report::list) {
      write_queue_listing(*store, list, std::cout);
      return 0;
    }
    if (report == Report::damaged) {
      write_damaged_listing(*store, list.limit, std::cout);
      return 0;
    }
    const auto message = store->message(id);
    if (!message) {
      std::cerr << "herald: no message " << id << " in " << store_path.string() << "\n";
      return kExitNotFound;
    }
    if (report == Report::trace) {
      write_trace_report(std::cout, *message, store->ledger(id), store->deliveries(id));
    } else {
      write_show_report(std::cout, *message, store->deliveries(id));
    }
    return 0;
  } catch (const StoreError& e) {
    std::cout.flush();
    std::cerr << "herald: " << e.what() << "\n";
    return kExitNotFound;
  }
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
  QueueListFilter list;
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
  bool damaged = false;
  list_command->add_flag("--damaged", damaged,
                         "list the records the store set aside as undecodable instead");

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

  auto* mqtt_command = app.add_subcommand("mqtt", "look at the MQTT broker of the running heraldd");
  mqtt_command->require_subcommand(1);
  auto* sessions_command = mqtt_command->add_subcommand(
      "sessions", "list the connected sessions with what each has queued and in flight");
  bool all_sessions = false;
  sessions_command->add_flag("--all", all_sessions,
                             "every session, not only the first 1000 by client id");

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
  if (hash_command->parsed()) return run_hash_password(scheme);
  if (keygen_command->parsed())
    return run_dkim_keygen(dkim_domain, dkim_selector, dkim_algorithm, key_out);
  if (retry_command->parsed() && !retry_all && id.empty()) {
    std::cerr << "herald: queue retry needs a message ID or --all\n";
    return kExitUsage;
  }
  list.destination = ascii_lower(list.destination);

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

  if (sessions_command->parsed()) {
    constexpr size_t kDefaultSessionLimit = 1000;
    return run_mqtt_sessions(control_socket_path(config.server.data_dir),
                             all_sessions ? std::nullopt : std::optional(kDefaultSessionLimit));
  }
  for (const auto& [command, verb] : control_commands) {
    if (command->parsed()) {
      return run_queue_control(control_socket_path(config.server.data_dir),
                               ControlRequest{verb, message_id.value_or("")});
    }
  }

  const Report report = trace_command->parsed()  ? Report::trace
                        : show_command->parsed() ? Report::show
                        : damaged                ? Report::damaged
                                                 : Report::list;
  return run_report(report, config.server.data_dir / "store", message_id.value_or(""), list);
}
