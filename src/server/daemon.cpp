#include "server/daemon.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <csignal>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <optional>
#include <thread>
#include <vector>

#include "directory/directory.h"
#include "queue/queue_runner.h"
#include "server/config_reload.h"
#include "server/connection_registry.h"
#include "server/control_protocol.h"
#include "server/control_socket.h"
#include "server/free_space_monitor.h"
#include "server/listener.h"
#include "server/mqtt_listener.h"
#include "server/outbound.h"
#include "server/privileges.h"
#include "server/sender_verification.h"
#include "server/srs_secret.h"
#include "server/tls_context.h"
#include "store/store.h"
#include "transport/maildir_transport.h"

namespace herald {
namespace {

namespace asio = boost::asio;

// How long sessions may take to finish a message in progress once shutdown has begun.
constexpr auto kShutdownGrace = std::chrono::seconds(10);
// How often free space is read: a 4 KiB message stream at a few thousand a second takes some
// tens of MiB in this time, well inside the default margin of 2 × max_message_size.
constexpr auto kFreeSpaceInterval = std::chrono::seconds(2);

bool is_smtp_protocol(ListenProtocol protocol) {
  return protocol == ListenProtocol::smtp || protocol == ListenProtocol::submission ||
         protocol == ListenProtocol::submissions;
}

// The SMTP listeners, in the file's order; the MQTT ones are MqttFace's.
std::vector<ListenConfig> smtp_listeners(const Config& config) {
  std::vector<ListenConfig> smtp;
  std::copy_if(config.listen.begin(), config.listen.end(), std::back_inserter(smtp),
               [](const ListenConfig& l) { return is_smtp_protocol(l.protocol); });
  return smtp;
}

void check_listeners_available(const Config& config) {
  for (const ListenConfig& listen : config.listen) {
    if (listen.protocol == ListenProtocol::http) {
      throw ConfigError(config.source.filename().string() + ": listener protocol '" +
                        std::string(to_string(listen.protocol)) + "' is not available yet");
    }
  }
}

bool ends_with_label(const std::string& hostname, const std::string& domain) {
  return hostname == domain ||
         (hostname.size() > domain.size() &&
          hostname.compare(hostname.size() - domain.size(), domain.size(), domain) == 0 &&
          hostname[hostname.size() - domain.size() - 1] == '.');
}

// RFC 5321 4.5.1: the address a bare RCPT TO:<Postmaster> reaches: postmaster of the local
// domain this host is named in, else of the first local domain.
std::string postmaster_address(const Config& config) {
  for (const DomainConfig& domain : config.domains) {
    if (ends_with_label(config.server.hostname, domain.name)) return "postmaster@" + domain.name;
  }
  if (!config.domains.empty()) return "postmaster@" + config.domains.front().name;
  return "postmaster@" + config.server.hostname;
}

// What every listener's sessions share, made once at start; a reload rebuilds the settings
// around the same objects.
struct SharedSessionState {
  const SenderRewriting* srs = nullptr;
  AuthFailureLimiter* srs_failures = nullptr;
  InFlightBudget* in_flight_budget = nullptr;
  const std::atomic<bool>* storage_low = nullptr;
  const std::atomic<uint64_t>* storage_headroom = nullptr;
  bool can_seal = false;  // a sender verifier with an ARC sealer exists
};

// What a session on a listener of `protocol` offers and requires (DESIGN.md section 7).
SessionSettings session_settings(const Config& config, ListenProtocol protocol,
                                 const SharedSessionState& shared) {
  SessionSettings settings;
  settings.hostname = config.server.hostname;
  settings.listener = std::string(to_string(protocol));
  settings.limits = config.limits;
  settings.submission = protocol != ListenProtocol::smtp;
  settings.tls_on_connect = protocol == ListenProtocol::submissions;
  settings.starttls_offered = !settings.tls_on_connect;
  // Port 25 is where mail from the internet comes in; submission takes only users.
  settings.verify_senders = protocol == ListenProtocol::smtp && config.policy.verify_inbound;
  settings.policy = config.policy;
  settings.postmaster = postmaster_address(config);
  settings.srs = shared.srs;
  settings.arc_sealing = settings.verify_senders && shared.can_seal;
  settings.srs_failures = shared.srs_failures;
  settings.in_flight_budget = shared.in_flight_budget;
  settings.storage_low = shared.storage_low;
  settings.storage_headroom = shared.storage_headroom;
  // load_config validated every entry.
  for (const std::string& network : config.server.trusted_networks) {
    settings.trusted_networks.push_back(*IpNetwork::parse(network));
  }
  return settings;
}

// Where a DSN to `address` goes: the mailboxes it names here and the addresses its alias
// forwards to, or out by SMTP. Looked up in the directory of the moment, reloads included.
NoticeRouter notice_router(const Swappable<SessionResources>& resources) {
  return [&resources](std::string_view address) {
    const RecipientLookup found = resources.current()->directory->lookup(address);
    std::vector<NoticeTarget> targets;
    switch (found.kind) {
      case RecipientLookup::Kind::local:
        for (const Mailbox& mailbox : found.mailboxes)
          targets.push_back({"local", mailbox.address});
        // A DSN has the null sender, which forwarding keeps as it is (no SRS).
        for (const std::string& forward : found.forwards) targets.push_back({"smtp", forward});
        break;
      case RecipientLookup::Kind::not_local:
        targets.push_back({"smtp", std::string(address)});
        break;
      case RecipientLookup::Kind::unknown_user:
        break;
    }
    return targets;
  };
}

// The directories heraldd writes in. Made here when absent, and given to the [server] user
// then, so that what root makes for it is not out of its reach after the drop.
void prepare_data_dir(const Config& config, const std::optional<RunAs>& run_as) {
  const std::filesystem::path& data_dir = config.server.data_dir;
  const auto make = [&run_as](const std::filesystem::path& directory) {
    if (std::filesystem::exists(directory)) return;
    std::filesystem::create_directories(directory);
    if (run_as) give_to(*run_as, directory);
  };
  make(data_dir);
  if (run_as) {
    if (const size_t changed = adopt_data_dir(*run_as, data_dir)) {
      spdlog::info("data_dir {} and the {} entries in it given to {} (it was root's)",
                   data_dir.string(), changed - 1, run_as->user);
    }
    // Before anything is made inside: a data_dir the user cannot write is refused untouched.
    check_writable_by(*run_as, data_dir);
  }
  for (const char* below : {"store", "mail", "tls"}) make(data_dir / below);
}

// Files root made or opened inside data_dir before the drop (the store's, the generated TLS
// pair, the generated SRS secret) become the user's, so that a reload, or a later start as
// that user (with CAP_NET_BIND_SERVICE), can open them again.
void give_data_files(const Config& config, const RunAs& run_as) {
  const std::filesystem::path& data_dir = config.server.data_dir;
  for (const auto& entry : std::filesystem::directory_iterator(data_dir / "store")) {
    give_to_if_present(run_as, entry.path());
  }
  for (const auto& entry : std::filesystem::directory_iterator(data_dir / "tls")) {
    give_to(run_as, entry.path());
  }
  if (std::filesystem::exists(data_dir / "srs.secret")) give_to(run_as, data_dir / "srs.secret");
}

unsigned io_thread_count(const Config& config) {
  if (config.server.io_threads > 0) return config.server.io_threads;
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

int run_daemon(const Config& config) {
  check_listeners_available(config);
  for (const std::string& warning : config.warnings) spdlog::warn("{}", warning);
  const std::optional<RunAs> run_as = resolve_run_as(config);
  // Only `user = "root"` leaves it root (resolve_run_as refuses a missing default user).
  if (!run_as && ::geteuid() == 0) {
    spdlog::warn(
        "heraldd runs as root, as [server] user = \"root\" asks: every session and delivery "
        "runs with root's rights; name an unprivileged user (the default is \"{}\")",
        kDefaultUser);
  }
  // Peers that vanish must cost an error code, not the process.
  std::signal(SIGPIPE, SIG_IGN);
  // A SIGHUP that comes before the reload handler below exists (a service manager's, during
  // start-up) is dropped instead of ending the process; the signal_set then takes it over.
  std::signal(SIGHUP, SIG_IGN);
  prepare_data_dir(config, run_as);
  // The directory and the TLS context, which a SIGHUP replaces (server/config_reload.h).
  Swappable<SessionResources> resources(make_session_resources(config));

  const std::unique_ptr<Store> store =
      open_rocksdb_store(config.server.data_dir / "store", StoreMode::read_write);
  const SenderRewriting srs(config.srs.domain, load_srs_secret(config), config.srs.previous_secrets,
                            config.srs.max_age);
  MaildirTransport transport(config.server.data_dir / "mail", config.server.hostname);
  const SystemClock clock;
  // Where heraldd listens: relayed mail whose next hop is one of these would come straight
  // back (RFC 5321 5.1), so it bounces with 5.4.6 instead.
  std::vector<OwnListener> own_listeners;
  for (const ListenConfig& listen : config.listen)
    own_listeners.push_back({listen.host, listen.port});
  Outbound outbound(config, std::move(own_listeners));
  // Its thread and resolver exist only where some listener checks senders.
  std::optional<SenderVerification> sender_verification;
  if (config.policy.verify_inbound &&
      std::any_of(config.listen.begin(), config.listen.end(),
                  [](const ListenConfig& l) { return l.protocol == ListenProtocol::smtp; })) {
    sender_verification.emplace(config);
  }
  // Set while the store's or the mailboxes' file system is short of space: MAIL gets 452,
  // and local delivery (which writes Maildir files) pauses.
  std::atomic<bool> storage_low{false};
  QueueRunner queue(*store, transport, &outbound.async_transport(), clock,
                    QueueRunnerSettings{config.queue, config.destinations, config.server.hostname,
                                        notice_router(resources), &storage_low});

  asio::thread_pool commit_pool(config.queue.commit_threads);
  const unsigned threads = io_thread_count(config);
  asio::io_context io(static_cast<int>(threads));
  AuthFailureLimiter auth_limiter(clock, config.limits.max_auth_failures,
                                  config.limits.auth_failure_window);
  ConnectionRegistry registry(config.limits.max_connections, config.limits.max_connections_per_ip);
  AuthFailureLimiter srs_failures(clock, config.limits.max_srs_failures,
                                  config.limits.auth_failure_window);
  InFlightBudget in_flight(config.limits.max_bytes_in_flight);
  std::optional<FreeSpaceMonitor> free_space;
  if (config.queue.min_free_space > 0) {
    const std::filesystem::path& data_dir = config.server.data_dir;
    free_space.emplace(distinct_file_systems({data_dir, data_dir / "store", data_dir / "mail"}),
                       config.queue.min_free_space, storage_low);
    free_space->start(io, kFreeSpaceInterval);
  }

  const SharedSessionState shared{
      .srs = &srs,
      .srs_failures = &srs_failures,
      .in_flight_budget = &in_flight,
      .storage_low = &storage_low,
      .storage_headroom = free_space ? &free_space->headroom() : nullptr,
      .can_seal = sender_verification && sender_verification->checks().sealer != nullptr};
  // Each listener's sessions get the settings of its protocol, which a SIGHUP replaces;
  // deques keep the elements where the listeners' references point.
  std::deque<Swappable<SessionSettings>> settings;
  // What services' `settings` references bind to; a connection takes its own from `settings`.
  std::vector<std::shared_ptr<const SessionSettings>> settings_at_start;
  std::deque<SmtpServices> services;
  std::vector<std::unique_ptr<Listener>> listeners;
  const std::vector<ListenConfig> smtp_listen = smtp_listeners(config);
  for (const ListenConfig& listen : smtp_listen) {
    settings_at_start.push_back(
        std::make_shared<const SessionSettings>(session_settings(config, listen.protocol, shared)));
    settings.emplace_back(settings_at_start.back());
    services.push_back(SmtpServices{
        *settings_at_start.back(), resources, clock, *store, queue, commit_pool.get_executor(),
        auth_limiter, sender_verification ? &sender_verification->checks() : nullptr});
    listeners.push_back(
        std::make_unique<Listener>(io, listen, settings.back(), services.back(), registry));
  }
  // The TLS context of the start serves mqtts to the end (a reload's new pair reaches SMTP
  // sessions only, docs/mqtt.md); this reference keeps it alive.
  const std::shared_ptr<const SessionResources> mqtt_resources = resources.current();
  MqttFace mqtt(io, config, clock, *mqtt_resources->tls, *store);
  // Root was needed for the ports, the keys and the files above; nothing after this line
  // (no session, no delivery, no control request) runs with it.
  if (run_as) {
    give_data_files(config, *run_as);
    drop_privileges(*run_as);
    spdlog::info("running as user={} uid={} gid={}", run_as->user, run_as->uid, run_as->gid);
  } else if (::geteuid() != 0) {
    // Started as its user already (a service manager's User=, CAP_NET_BIND_SERVICE for the
    // low ports): nothing to give up, and the log says who it runs as all the same.
    spdlog::info("running as uid={} gid={}, as started", ::geteuid(), ::getegid());
  }
  queue.start();
  for (size_t i = 0; i < listeners.size(); ++i) {
    listeners[i]->start();
    spdlog::info("listening protocol={} address={}", to_string(smtp_listen[i].protocol),
                 listeners[i]->address());
  }

  mqtt.start();

  // Operators steer the queue through it (herald queue retry/hold/release/bounce) and look
  // at the MQTT sessions (herald mqtt sessions); its calls block on the store or the
  // broker's lock, so they run on the commit pool, never on an io thread.
  ControlSocket control(io, control_socket_path(config.server.data_dir), queue, &mqtt,
                        commit_pool.get_executor());
  control.start();

  std::promise<int> signalled;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (!ec) signalled.set_value(signal);
  });
  // SIGHUP: reread the configuration on the commit pool (file reads, key parsing), one
  // reload at a time: the next SIGHUP is awaited only once this one is done.
  ConfigReloader reloader(config, resources, outbound.dkim_keys(), [&](const Config& reloaded) {
    const std::vector<ListenConfig> reloaded_smtp = smtp_listeners(reloaded);
    for (size_t i = 0; i < reloaded_smtp.size(); ++i) {
      settings[i].replace(std::make_shared<const SessionSettings>(
          session_settings(reloaded, reloaded_smtp[i].protocol, shared)));
    }
    mqtt.reload_rights(reloaded);
  });
  asio::signal_set hangups(io, SIGHUP);
  std::function<void()> await_hangup = [&] {
    hangups.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      asio::post(commit_pool, [&] {
        reloader.reload();
        await_hangup();
      });
    });
  };
  await_hangup();
  auto work = asio::make_work_guard(io);
  std::vector<std::thread> io_threads;
  for (unsigned i = 0; i < threads; ++i) io_threads.emplace_back([&io] { io.run(); });
  spdlog::info("heraldd started hostname={} io_threads={} commit_threads={}",
               config.server.hostname, threads, config.queue.commit_threads);

  const int signal = signalled.get_future().get();
  spdlog::info("shutting down signal={} sessions={} mqtt_sessions={}", strsignal(signal),
               registry.open_connections(), mqtt.open_connections());
  for (const auto& listener : listeners) listener->stop();
  control.stop();
  registry.shutdown_all();
  mqtt.shutdown();
  if (!registry.wait_until_empty(kShutdownGrace)) {
    spdlog::warn("shutdown: {} sessions still open after {}s; closing them",
                 registry.open_connections(), kShutdownGrace.count());
  }
  // Their DISCONNECTs are small and went out with the SMTP sessions' grace.
  if (!mqtt.wait_until_empty(std::chrono::seconds(1))) {
    spdlog::warn("shutdown: {} MQTT sessions still open; closing them", mqtt.open_connections());
  }
  work.reset();
  io.stop();
  for (std::thread& thread : io_threads) thread.join();
  // Checks still in flight hold sessions' continuations, which belong to `io`: they are
  // dropped now, while `io` still exists.
  sender_verification.reset();
  // Commits in flight finish before the sessions that wait for them are destroyed with
  // the io_context; what they stored is pending in the store for the next start.
  commit_pool.join();
  // Remote attempts in progress end now, as temporary failures recorded for a retry after
  // the restart, instead of holding the shutdown for as long as a slow server takes.
  outbound.shutdown();
  queue.stop();
  spdlog::info("heraldd stopped");
  return 0;
}

}  // namespace herald
