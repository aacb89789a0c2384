// SIGHUP: heraldd rereads herald.toml and applies what it can without a restart, as
// Postfix's "postfix reload" and OpenSMTPD's table updates do, without dropping a session.
//
// Applied, for sessions that start afterwards (a session in progress keeps what it started
// with, SessionResources and its SessionSettings): the directory ([[domain]], [[user]] with
// its passwords, [[alias]]) and the TLS certificate and key ([tls], or the generated pair),
// which are read again even when the file names the same paths, so a renewed certificate is
// picked up; the [limits] a session reads (sizes, line lengths, errors, timeouts, hops,
// min_deliver_by) and [policy] spf_fail and dmarc_reject. DSNs routed after the reload see
// the new directory too. The [[dkim]] signing keys, read again the same way, sign the
// outbound attempts that start afterwards. The MQTT rights ([[device]] entries, [mqtt]
// allow_anonymous, anonymous_publish, anonymous_subscribe and deny) hold for the logins that
// come afterwards; a device logged in keeps the grant it logged in with.
//
// Everything else (listeners, [server] data_dir, user, hostname, the [limits] that size what
// was made at start: max_connections, max_connections_per_ip, max_auth_failures,
// auth_failure_window, max_srs_failures, max_bytes_in_flight, verify_threads; [policy]
// verify_inbound and max_signatures; [queue], [outbound], ...) needs a restart: a changed one
// is logged as "reload: [server] data_dir changed; takes effect after a restart", measured
// against the file heraldd started with, and the running value stays.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "auth/dkim_signing_table.h"
#include "config/config.h"
#include "smtp/server_connection.h"
#include "util/swappable.h"

namespace herald {

// The directory and the TLS context of `config` (ensure_tls_files: the generated pair is
// made when absent). Throws ConfigError or std::runtime_error naming what failed.
std::shared_ptr<const SessionResources> make_session_resources(const Config& config);

class ConfigReloader {
 public:
  // `running` is the configuration heraldd started with; its file's text is read now, as
  // what restart-only changes are measured against. `resources` is what sessions take
  // theirs from, `dkim_keys` what outbound signing takes its keys from (Outbound::dkim_keys);
  // both must outlive this object. `apply_session_settings` is called after each reload
  // that takes, with the configuration now in force (the running one with what a reload
  // applies), to swap in the listeners' new SessionSettings; it must not throw.
  ConfigReloader(const Config& running, Swappable<SessionResources>& resources,
                 Swappable<DkimSigningTable>& dkim_keys,
                 std::function<void(const Config&)> apply_session_settings);

  // Rereads the file and, when it parses and validates and its certificate, key and DKIM
  // keys load, swaps the new directory and TLS context in at once (one pointer), then the
  // new DKIM table (another), then the listeners' settings (apply_session_settings), and
  // returns true.
  // Otherwise logs one error line naming the problem, changes nothing and returns false;
  // heraldd keeps running on what it had. Never throws. Blocks on file reads and key
  // parsing: call it from a worker thread, one call at a time.
  bool reload();

 private:
  // What heraldd started with: a reload takes only the directory and [tls] from the new
  // file, and the rest (data_dir, where a generated pair lives; hostname) from this.
  const Config running_;
  std::string started_text_;
  std::string applied_text_;  // the file's text at the last reload that took
  Swappable<SessionResources>& resources_;
  Swappable<DkimSigningTable>& dkim_keys_;
  const std::function<void(const Config&)> apply_session_settings_;
};

}  // namespace herald
