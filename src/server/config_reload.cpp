#include "server/config_reload.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/ssl/context.hpp>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "config/config_changes.h"
#include "directory/directory.h"
#include "mqtt/access_policy.h"
#include "server/tls_context.h"

namespace herald {
namespace {

// The [limits] keys that size what heraldd made once at start: the connection registry, the
// AUTH and SRS failure counters, the in-flight budget, the verification pool. The others are
// read by each session from its settings, so new sessions take them from a reload.
constexpr const char* kRestartOnlyLimits[] = {
    "max_connections",  "max_connections_per_ip", "max_auth_failures", "auth_failure_window",
    "max_srs_failures", "max_bytes_in_flight",    "verify_threads"};

// [limits] as a reload applies it: `reread`'s, except the keys of kRestartOnlyLimits, which
// keep their running value. Mirrors that list key for key.
LimitsConfig reloaded_limits(const LimitsConfig& running, const LimitsConfig& reread) {
  LimitsConfig limits = reread;
  limits.max_connections = running.max_connections;
  limits.max_connections_per_ip = running.max_connections_per_ip;
  limits.max_auth_failures = running.max_auth_failures;
  limits.auth_failure_window = running.auth_failure_window;
  limits.max_srs_failures = running.max_srs_failures;
  limits.max_bytes_in_flight = running.max_bytes_in_flight;
  limits.verify_threads = running.verify_threads;
  return limits;
}

// [policy] as a reload applies it: what sessions decide with (spf_fail, dmarc_reject) from
// `reread`; whether senders are verified at all and how many signatures the verifier checks
// belong to the verifier made at start (server/sender_verification.h).
PolicyConfig reloaded_policy(const PolicyConfig& running, const PolicyConfig& reread) {
  PolicyConfig policy = running;
  policy.spf_fail = reread.spf_fail;
  policy.dmarc_reject = reread.dmarc_reject;
  return policy;
}

// The settings a reload applies; every other one needs a restart.
bool applied_by_reload(const std::string& setting) {
  for (const char* prefix :
       {"[[domain]]", "[[user]]", "[[alias]]", "[tls]", "[[dkim]]", "[policy] spf_fail",
        "[policy] dmarc_reject", "[[device]]", "[mqtt] allow_anonymous", "[mqtt] anonymous_publish",
        "[mqtt] anonymous_subscribe", "[mqtt] deny"}) {
    if (setting.rfind(prefix, 0) == 0) return true;
  }
  const std::string limits = "[limits] ";
  if (setting.rfind(limits, 0) != 0) return false;
  const std::string key = setting.substr(limits.size());
  return std::none_of(std::begin(kRestartOnlyLimits), std::end(kRestartOnlyLimits),
                      [&key](const char* restart_only) { return key == restart_only; });
}

std::string file_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + file.string());
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw std::runtime_error("cannot read " + file.string());
  return text.str();
}

// A log line is one line, whatever the message it carries.
std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

}  // namespace

std::shared_ptr<const SessionResources> make_session_resources(const Config& config) {
  auto directory = std::make_shared<const Directory>(config);
  std::shared_ptr<boost::asio::ssl::context> tls =
      make_server_tls_context(ensure_tls_files(config));
  return std::make_shared<const SessionResources>(
      SessionResources{std::move(directory), std::move(tls)});
}

ConfigReloader::ConfigReloader(const Config& running, Swappable<SessionResources>& resources,
                               Swappable<DkimSigningTable>& dkim_keys,
                               std::function<void(const Config&)> apply_session_settings)
    : running_(running),
      resources_(resources),
      dkim_keys_(dkim_keys),
      apply_session_settings_(std::move(apply_session_settings)) {
  try {
    started_text_ = file_text(running_.source);
    applied_text_ = started_text_;
  } catch (const std::exception& e) {
    // Then every setting counts as changed at the first reload: reported, not applied.
    spdlog::warn("reload: {}; restart-only changes cannot be told apart", e.what());
  }
}

bool ConfigReloader::reload() {
  const std::filesystem::path& file = running_.source;
  spdlog::info("reload: rereading {}", file.string());
  std::string text;
  std::shared_ptr<const SessionResources> next;
  std::shared_ptr<const DkimSigningTable> next_keys;
  Config config = running_;
  try {
    text = file_text(file);
    const Config reread = parse_config(text, file);
    config.domains = reread.domains;
    config.users = reread.users;
    config.aliases = reread.aliases;
    config.tls = reread.tls;
    config.dkim = reread.dkim;
    config.limits = reloaded_limits(running_.limits, reread.limits);
    config.policy = reloaded_policy(running_.policy, reread.policy);
    config.devices = reread.devices;
    config.mqtt.allow_anonymous = reread.mqtt.allow_anonymous;
    config.mqtt.anonymous_publish = reread.mqtt.anonymous_publish;
    config.mqtt.anonymous_subscribe = reread.mqtt.anonymous_subscribe;
    config.mqtt.deny = reread.mqtt.deny;
    mqtt::AccessPolicy checked(config.mqtt, config.devices);  // throws for a bad filter
    next = make_session_resources(config);
    next_keys = std::make_shared<const DkimSigningTable>(config.dkim);
  } catch (const std::exception& e) {
    spdlog::error("reload refused, keeping the running configuration: {}", one_line(e.what()));
    return false;
  }
  resources_.replace(std::move(next));
  dkim_keys_.replace(std::move(next_keys));
  apply_session_settings_(config);
  // What was applied is told against the last reload; what waits for a restart against
  // what is running, the file heraldd started with.
  try {
    for (const std::string& setting : changed_settings(applied_text_, text)) {
      if (applied_by_reload(setting)) {
        spdlog::info("reload: {} changed; applied to new sessions and attempts", setting);
      }
    }
    for (const std::string& setting : changed_settings(started_text_, text)) {
      if (!applied_by_reload(setting)) {
        spdlog::warn("reload: {} changed; takes effect after a restart", setting);
      }
    }
  } catch (const std::exception& e) {
    spdlog::warn("reload: {}", one_line(e.what()));
  }
  applied_text_ = std::move(text);
  spdlog::info("reloaded {} domains={} users={} aliases={} dkim_keys={}", file.string(),
               config.domains.size(), config.users.size(), config.aliases.size(),
               config.dkim.size());
  return true;
}

}  // namespace herald
