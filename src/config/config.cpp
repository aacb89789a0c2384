#include "config/config.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include "config/mqtt_tables.h"
#include "config/toml_table_reader.h"
#include "util/ascii.h"
#include "util/ip_network.h"

namespace herald {
namespace {

using config_reading::each_entry;
using config_reading::table_or_empty;
using config_reading::TableReader;
using config_reading::where;

ListenProtocol parse_protocol(const std::string& s, const toml::node& n,
                              const std::filesystem::path& origin) {
  static const std::map<std::string, ListenProtocol> names = {
      {"smtp", ListenProtocol::smtp},
      {"submission", ListenProtocol::submission},
      {"submissions", ListenProtocol::submissions},
      {"mqtt", ListenProtocol::mqtt},
      {"mqtts", ListenProtocol::mqtts},
      {"http", ListenProtocol::http}};
  auto it = names.find(s);
  if (it == names.end()) {
    throw ConfigError(where(origin, n) + ": protocol '" + s +
                      "' is not one of smtp, submission, submissions, mqtt, mqtts, http");
  }
  return it->second;
}

// "127.0.0.1:2525" or "[::1]:2525".
void parse_address(const std::string& text, ListenConfig& out, const toml::node& n,
                   const std::filesystem::path& origin) {
  auto bad = [&] {
    return ConfigError(where(origin, n) + ": address '" + text +
                       "' must be IP:PORT, e.g. \"127.0.0.1:25\" or \"[::1]:25\"");
  };
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      throw bad();
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) throw bad();
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); })) {
    throw bad();
  }
  const unsigned long value = std::stoul(port);
  if (value == 0 || value > 65535) throw bad();
  out.host = host;
  out.port = static_cast<uint16_t>(value);
}

bool plausible_address(const std::string& a) {
  const auto at = a.rfind('@');
  return at != std::string::npos && at > 0 && at + 1 < a.size();
}

std::string domain_of(const std::string& address) {
  return address.substr(address.rfind('@') + 1);
}

// "host", "host:port" or "[ipv6]:port"; the port defaults to 25.
void parse_next_hop(RouteConfig& route, const toml::node& n, const std::filesystem::path& origin) {
  const std::string& text = route.to;
  const bool bracketed = !text.empty() && text[0] == '[';
  const bool has_port = bracketed ? text.find("]:") != std::string::npos
                                  : std::count(text.begin(), text.end(), ':') == 1;
  if (!has_port && !bracketed && text.find(':') == std::string::npos) {
    if (text.empty() || text.find_first_of(" \t/@") != std::string::npos) {
      throw ConfigError(where(origin, n) + ": route 'to' '" + text +
                        "' must be HOST, HOST:PORT or [IPV6]:PORT");
    }
    route.host = ascii_lower(text);
    route.port = 25;
    return;
  }
  ListenConfig hop;
  parse_address(text, hop, n, origin);
  route.host = ascii_lower(hop.host);
  route.port = hop.port;
}

// "10/1m": at most 10 attempts per minute.
void parse_rate(TableReader& r, DestinationConfig& d, const toml::table& t,
                const std::filesystem::path& origin) {
  std::string rate;
  r.get_string("rate", rate);
  if (rate.empty()) return;
  const auto slash = rate.find('/');
  const auto bad = [&] {
    return ConfigError(where(origin, t) + ": rate '" + rate +
                       "' must be ATTEMPTS/DURATION, e.g. \"10/1m\"");
  };
  if (slash == std::string::npos || slash == 0 || slash > 9) throw bad();
  const std::string count = rate.substr(0, slash);
  if (!std::all_of(count.begin(), count.end(), [](unsigned char c) { return std::isdigit(c); }))
    throw bad();
  try {
    d.rate_interval = parse_duration(rate.substr(slash + 1));
  } catch (const ConfigError&) {
    throw bad();
  }
  d.rate_attempts = static_cast<uint32_t>(std::stoul(count));
  if (d.rate_attempts == 0 || d.rate_interval.count() == 0) throw bad();
}

DestinationConfig parse_destination(TableReader& r, const toml::table& t,
                                    const std::filesystem::path& origin, const QueueConfig& q) {
  DestinationConfig d;
  r.get_string("domain", d.domain, true);
  d.domain = ascii_lower(d.domain);
  d.max_connections = q.max_connections_per_destination;
  d.reserved_for_urgent = q.reserved_for_urgent;
  d.retry_backoff = q.retry_backoff;
  d.max_age = q.max_age;
  d.max_attempts = q.max_attempts;
  r.get_count("max_connections", d.max_connections);
  r.get_count("reserved_for_urgent", d.reserved_for_urgent, 0);
  if (const toml::node* n = r.node("retry_backoff")) {
    const toml::array* arr = n->as_array();
    if (!arr || arr->empty()) r.fail(*n, "retry_backoff", "a non-empty array of durations");
    d.retry_backoff.clear();
    for (const auto& item : *arr) d.retry_backoff.push_back(r.duration_of(item, "retry_backoff"));
  }
  r.get_duration("max_age", d.max_age);
  uint32_t max_attempts = 0;
  r.get_count("max_attempts", max_attempts);
  if (max_attempts > 0) d.max_attempts = max_attempts;
  parse_rate(r, d, t, origin);
  return d;
}

// The timestamp in an SRS address counts days modulo 1024 (2 base32 characters), so an age
// past that cannot be told from a young one.
template <typename Fail>
void validate_srs(const SrsConfig& srs, const Fail& fail) {
  if (!srs.secret.empty() && !srs.secret_file.empty())
    fail("[srs] takes 'secret' or 'secret_file', not both");
  if (srs.max_age < std::chrono::hours(24) || srs.max_age >= std::chrono::hours(24 * 1024))
    fail("[srs] 'max_age' must be from 1d to 1023d");
  for (const auto& previous : srs.previous_secrets) {
    if (previous.empty()) fail("[srs] 'previous_secrets' has an empty secret");
  }
}

// A count whose absence differs from any value it may take (a key that moved, read in both
// places).
template <typename T>
std::optional<T> count_if_given(TableReader& r, const std::string& key, uint64_t min = 1) {
  if (!r.node(key)) return std::nullopt;
  T value{};
  r.get_count(key, value, min);
  return value;
}

// A key that moved keeps working in its old place for one release: taken from there, with a
// warning, when the new place leaves it out; a file that gives both with different values is
// refused, since either choice would silently ignore what the operator wrote.
template <typename T>
void take_moved_key(const std::optional<T>& at_old, const std::optional<T>& at_new, T& out,
                    const std::string& old_name, const std::string& new_name, Config& c) {
  if (!at_old) return;
  if (at_new && *at_new != *at_old) {
    throw ConfigError(c.source.filename().string() + ": " + old_name + " = " +
                      std::to_string(*at_old) + " and " + new_name + " = " +
                      std::to_string(*at_new) + " disagree; " + old_name + " is now " + new_name +
                      ", keep only that one");
  }
  if (!at_new) out = *at_old;
  c.warnings.push_back(old_name + " is now " + new_name +
                       "; the old name is read until the next release");
}

void validate(Config& c) {
  const std::string file = c.source.filename().string();
  auto fail = [&](const std::string& what) { throw ConfigError(file + ": " + what); };
  if (c.server.hostname.empty()) fail("[server] needs 'hostname' (the name this server announces)");
  if (c.server.data_dir.empty())
    fail("[server] needs 'data_dir' (where the store and mailboxes live)");
  if (c.listen.empty()) fail("at least one [[listen]] is needed");
  if (!c.server.group.empty() && c.server.user.empty())
    fail("[server] 'group' needs 'user' (the group heraldd runs as, beside that user)");
  if (c.tls.cert.empty() != c.tls.key.empty())
    fail("[tls] needs both 'cert' and 'key', or neither");
  if (c.queue.retry_backoff.empty()) fail("[queue] 'retry_backoff' needs at least one delay");
  // A seal records what this server verified; without verification there is nothing to seal.
  if (!c.arc.key.empty() && !c.policy.verify_inbound)
    fail("[arc] needs [policy] verify_inbound = true: a seal records what herald verified");
  for (const auto& network : c.server.trusted_networks) {
    if (!IpNetwork::parse(network)) {
      fail("[server] trusted_networks: '" + network +
           "' is not an address or network such as \"127.0.0.0/8\" or \"::1/128\"");
    }
  }
  if (c.limits.min_deliver_by.count() < 1) fail("[limits] 'min_deliver_by' must be at least 1s");
  // A store that accepts MAIL with less room than one message at its largest fails at the end
  // of data instead, after the client has sent it all.
  if (c.queue.min_free_space != 0 &&
      c.queue.min_free_space < c.limits.max_message_size + c.limits.max_message_size / 2) {
    fail("[queue] 'min_free_space' must be 0 (not checked) or at least 1.5 × max_message_size (" +
         std::to_string(c.limits.max_message_size + c.limits.max_message_size / 2) + " octets)");
  }
  const OutboundConfig& o = c.outbound;
  const std::pair<const char*, std::chrono::seconds> outbound_timeouts[] = {
      {"connect_timeout", o.connect_timeout},
      {"greeting_timeout", o.greeting_timeout},
      {"command_timeout", o.command_timeout},
      {"mail_timeout", o.mail_timeout},
      {"rcpt_timeout", o.rcpt_timeout},
      {"data_init_timeout", o.data_init_timeout},
      {"data_block_timeout", o.data_block_timeout},
      {"data_timeout", o.data_timeout},
      {"attempt_timeout", o.attempt_timeout}};
  for (const auto& [key, timeout] : outbound_timeouts) {
    if (timeout.count() < 1) fail(std::string("[outbound] '") + key + "' must be at least 1s");
  }
  std::set<std::string> destinations;
  for (const auto& d : c.destinations) {
    if (!destinations.insert(d.domain).second)
      fail("[[destination]] '" + d.domain + "' is declared twice");
  }
  std::set<std::string> routes;
  for (const auto& r : c.routes) {
    if (!routes.insert(r.domain).second) fail("[[route]] for '" + r.domain + "' is declared twice");
  }
  if (c.limits.max_command_line < 512)
    fail("[limits] 'max_command_line' must be at least 512 (RFC 5321 4.5.3.1.4)");
  if (c.limits.max_data_line < 1000)
    fail("[limits] 'max_data_line' must be at least 1000 (RFC 5321 4.5.3.1.6)");
  // Past RFC 8617's own cap on ARC sets a cap on signatures no longer bounds anything a
  // sender has a use for.
  if (c.policy.max_signatures > 50) fail("[policy] 'max_signatures' must be from 1 to 50");
  if (c.limits.verify_threads > 64) fail("[limits] 'verify_threads' must be from 0 to 64");

  std::set<std::string> domains;
  for (const auto& d : c.domains) {
    if (d.name.empty()) fail("[[domain]] needs 'name'");
    if (!domains.insert(d.name).second) fail("domain '" + d.name + "' is declared twice");
  }
  std::set<std::string> addresses;
  for (const auto& u : c.users) {
    if (!plausible_address(u.address))
      fail("[[user]] address '" + u.address + "' is not local@domain");
    if (!domains.count(domain_of(u.address)))
      fail("user '" + u.address + "' is in a domain that has no [[domain]] entry");
    if (!addresses.insert(u.address).second) fail("address '" + u.address + "' is declared twice");
  }
  for (const auto& a : c.aliases) {
    if (!plausible_address(a.address))
      fail("[[alias]] address '" + a.address + "' is not local@domain");
    if (!domains.count(domain_of(a.address)))
      fail("alias '" + a.address + "' is in a domain that has no [[domain]] entry");
    if (!addresses.insert(a.address).second) fail("address '" + a.address + "' is declared twice");
    if (a.to.empty()) fail("alias '" + a.address + "' has no 'to'");
    for (const auto& t : a.to) {
      if (!plausible_address(t))
        fail("alias '" + a.address + "' points to '" + t + "', not local@domain");
    }
  }
  // A target in a local domain must end at a user; one elsewhere is forwarded to.
  std::set<std::string> users;
  for (const auto& u : c.users) users.insert(u.address);
  std::set<std::string> aliases;
  for (const auto& a : c.aliases) aliases.insert(a.address);
  for (const auto& a : c.aliases) {
    for (const auto& t : a.to) {
      if (domains.count(domain_of(t)) && !users.count(t) && !aliases.count(t)) {
        fail("alias '" + a.address + "' points to '" + t +
             "', which is neither a [[user]] nor an [[alias]]");
      }
    }
  }
  validate_srs(c.srs, fail);
}

}  // namespace

std::string_view to_string(ListenProtocol p) {
  switch (p) {
    case ListenProtocol::smtp:
      return "smtp";
    case ListenProtocol::submission:
      return "submission";
    case ListenProtocol::submissions:
      return "submissions";
    case ListenProtocol::mqtt:
      return "mqtt";
    case ListenProtocol::mqtts:
      return "mqtts";
    case ListenProtocol::http:
      return "http";
  }
  return "?";
}

std::chrono::seconds parse_duration(std::string_view text) {
  if (text.empty()) throw ConfigError("empty duration");
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 9) throw ConfigError("'" + std::string(text) + "' is not a duration");
  const int64_t n = std::stoll(std::string(text.substr(0, digits)));
  const std::string_view unit = text.substr(digits);
  if (unit.empty() || unit == "s") return std::chrono::seconds(n);
  if (unit == "m") return std::chrono::minutes(n);
  if (unit == "h") return std::chrono::hours(n);
  if (unit == "d") return std::chrono::hours(24 * n);
  if (unit == "w") return std::chrono::hours(24 * 7 * n);
  throw ConfigError("'" + std::string(text) + "' has an unknown unit (use s, m, h, d or w)");
}

Config parse_config(std::string_view text, const std::filesystem::path& origin_in) {
  const std::filesystem::path origin = std::filesystem::absolute(origin_in);
  toml::table root;
  try {
    root = toml::parse(text, origin.string());
  } catch (const toml::parse_error& e) {
    std::ostringstream out;
    out << origin.filename().string() << ':' << e.source().begin.line << ':'
        << e.source().begin.column << ": " << e.description();
    throw ConfigError(out.str());
  }

  Config c;
  c.source = origin;
  {
    TableReader top(root, "top level", origin);
    for (const char* key :
         {"server", "listen", "tls", "dns", "limits", "domain", "user", "alias", "route", "queue",
          "destination", "outbound", "policy", "arc", "srs", "dkim", "mqtt", "device"}) {
      top.node(key);
    }
  }
  {
    TableReader r(table_or_empty(root, "server", origin), "server", origin);
    r.get_string("hostname", c.server.hostname, true);
    c.server.hostname = ascii_lower(c.server.hostname);
    std::string data_dir;
    r.get_string("data_dir", data_dir, true);
    c.server.data_dir = r.absolute(data_dir);
    r.get_string("log_level", c.server.log_level);
    r.get_count("io_threads", c.server.io_threads, 0);
    r.get_strings("trusted_networks", c.server.trusted_networks);
    r.get_string("user", c.server.user);
    r.get_string("group", c.server.group);
  }
  each_entry(root, "listen", origin, [&](const toml::table& t) {
    TableReader r(t, "[listen]", origin);
    ListenConfig l;
    std::string protocol = "smtp", address;
    r.get_string("protocol", protocol);
    r.get_string("address", address, true);
    l.protocol = parse_protocol(protocol, t, origin);
    parse_address(address, l, t, origin);
    c.listen.push_back(l);
  });
  {
    TableReader r(table_or_empty(root, "tls", origin), "tls", origin);
    r.get_path("cert", c.tls.cert);
    r.get_path("key", c.tls.key);
  }
  {
    TableReader r(table_or_empty(root, "dns", origin), "dns", origin);
    r.get_strings("servers", c.dns.servers);
    r.get_duration("timeout", c.dns.timeout);
  }
  // [queue] min_free_space and [policy] max_signatures, as they were first named in [limits].
  std::optional<uint64_t> limits_min_free_space;
  std::optional<uint32_t> limits_max_dkim_signatures;
  {
    TableReader r(table_or_empty(root, "limits", origin), "limits", origin);
    auto& l = c.limits;
    r.get_count("max_message_size", l.max_message_size);
    r.get_count("max_recipients", l.max_recipients);
    r.get_count("max_command_line", l.max_command_line);
    r.get_count("max_data_line", l.max_data_line);
    r.get_count("max_errors", l.max_errors);
    r.get_duration("command_timeout", l.command_timeout);
    r.get_duration("data_timeout", l.data_timeout);
    r.get_count("max_connections", l.max_connections);
    r.get_count("max_connections_per_ip", l.max_connections_per_ip);
    r.get_count("max_auth_failures", l.max_auth_failures);
    r.get_duration("auth_failure_window", l.auth_failure_window);
    r.get_duration("min_deliver_by", l.min_deliver_by);
    r.get_count("max_header_size", l.max_header_size);
    r.get_count("max_hops", l.max_hops);
    r.get_count("max_non_mail_commands", l.max_non_mail_commands);
    r.get_duration("max_session_time", l.max_session_time);
    r.get_duration("end_of_data_timeout", l.end_of_data_timeout);
    r.get_count("max_bytes_in_flight", l.max_bytes_in_flight);
    r.get_count("max_srs_failures", l.max_srs_failures);
    limits_min_free_space = count_if_given<uint64_t>(r, "min_free_space", 0);
    limits_max_dkim_signatures = count_if_given<uint32_t>(r, "max_dkim_signatures");
    r.get_count("verify_threads", l.verify_threads, 0);
  }
  each_entry(root, "domain", origin, [&](const toml::table& t) {
    TableReader r(t, "[domain]", origin);
    DomainConfig d;
    r.get_string("name", d.name, true);
    d.name = ascii_lower(d.name);
    c.domains.push_back(d);
  });
  each_entry(root, "user", origin, [&](const toml::table& t) {
    TableReader r(t, "[user]", origin);
    UserConfig u;
    r.get_string("address", u.address, true);
    r.get_string("password_hash", u.password_hash);
    u.address = ascii_lower(u.address);
    c.users.push_back(u);
  });
  each_entry(root, "alias", origin, [&](const toml::table& t) {
    TableReader r(t, "[alias]", origin);
    AliasConfig a;
    r.get_string("address", a.address, true);
    a.address = ascii_lower(a.address);
    const toml::node* to = t.get("to");
    if (to && to->is_string()) {
      std::string one;
      r.get_string("to", one);
      a.to.push_back(one);
    } else {
      r.get_strings("to", a.to);
    }
    for (auto& target : a.to) target = ascii_lower(target);
    c.aliases.push_back(a);
  });
  each_entry(root, "route", origin, [&](const toml::table& t) {
    TableReader r(t, "[route]", origin);
    RouteConfig route;
    r.get_string("domain", route.domain, true);
    r.get_string("to", route.to, true);
    route.domain = ascii_lower(route.domain);
    parse_next_hop(route, t, origin);
    c.routes.push_back(route);
  });
  {
    TableReader r(table_or_empty(root, "queue", origin), "queue", origin);
    auto& q = c.queue;
    if (const toml::node* n = r.node("retry_backoff")) {
      const toml::array* arr = n->as_array();
      if (!arr) r.fail(*n, "retry_backoff", "an array of durations");
      q.retry_backoff.clear();
      for (const auto& item : *arr) q.retry_backoff.push_back(r.duration_of(item, "retry_backoff"));
    }
    r.get_duration("max_age", q.max_age);
    r.get_count("max_connections_per_destination", q.max_connections_per_destination);
    r.get_count("local_delivery_workers", q.local_delivery_workers);
    r.get_count("max_deliveries_per_mailbox", q.max_deliveries_per_mailbox);
    r.get_count("commit_threads", q.commit_threads);
    r.get_count("remote_delivery_workers", q.remote_delivery_workers);
    r.get_count("reserved_attempts_for_urgent", q.reserved_attempts_for_urgent, 0);
    r.get_count("reserved_for_urgent", q.reserved_for_urgent, 0);
    r.get_count("fair_share_every", q.fair_share_every, 0);
    uint32_t max_attempts = 0;
    r.get_count("max_attempts", max_attempts);
    if (max_attempts > 0) q.max_attempts = max_attempts;
    r.get_duration("delay_warning", q.delay_warning);
    r.get_count("active_limit", q.active_limit, 2);
    r.get_duration("retain", q.retain);
    r.get_count("dsn_max_returned_size", q.dsn_max_returned_size, 0);
    q.min_free_space = 2 * c.limits.max_message_size;
    const auto min_free_space = count_if_given<uint64_t>(r, "min_free_space", 0);
    if (min_free_space) q.min_free_space = *min_free_space;
    take_moved_key(limits_min_free_space, min_free_space, q.min_free_space,
                   "[limits] min_free_space", "[queue] min_free_space", c);
  }
  // After [queue]: what a destination leaves unset comes from there.
  each_entry(root, "destination", origin, [&](const toml::table& t) {
    TableReader r(t, "[destination]", origin);
    c.destinations.push_back(parse_destination(r, t, origin, c.queue));
  });
  {
    TableReader r(table_or_empty(root, "outbound", origin), "outbound", origin);
    auto& o = c.outbound;
    r.get_string("helo_name", o.helo_name);
    o.helo_name = ascii_lower(o.helo_name.empty() ? c.server.hostname : o.helo_name);
    r.get_duration("connect_timeout", o.connect_timeout);
    r.get_duration("command_timeout", o.command_timeout);
    r.get_duration("data_timeout", o.data_timeout);
    o.greeting_timeout = o.mail_timeout = o.rcpt_timeout = o.command_timeout;
    r.get_duration("greeting_timeout", o.greeting_timeout);
    r.get_duration("mail_timeout", o.mail_timeout);
    r.get_duration("rcpt_timeout", o.rcpt_timeout);
    r.get_duration("data_init_timeout", o.data_init_timeout);
    r.get_duration("data_block_timeout", o.data_block_timeout);
    r.get_duration("attempt_timeout", o.attempt_timeout);
    r.get_count("max_mx_hosts", o.max_mx_hosts);
    r.get_count("max_addresses", o.max_addresses);
    r.get_duration("idle_timeout", o.idle_timeout);
    r.get_count("max_messages_per_connection", o.max_messages_per_connection);
    r.get<bool>("opportunistic_tls", o.opportunistic_tls);
    r.get_count("mx_port", o.mx_port);
  }
  {
    TableReader r(table_or_empty(root, "policy", origin), "policy", origin);
    auto& p = c.policy;
    r.get<bool>("verify_inbound", p.verify_inbound);
    std::string spf_fail = "accept", dmarc_reject = "reject";
    r.get_choice("spf_fail", spf_fail, {"accept", "reject"});
    r.get_choice("dmarc_reject", dmarc_reject, {"reject", "quarantine"});
    p.spf_fail = spf_fail == "reject" ? SpfFailAction::reject : SpfFailAction::accept;
    p.dmarc_reject =
        dmarc_reject == "quarantine" ? DmarcRejectAction::quarantine : DmarcRejectAction::reject;
    const auto max_signatures = count_if_given<uint32_t>(r, "max_signatures");
    if (max_signatures) p.max_signatures = *max_signatures;
    take_moved_key(limits_max_dkim_signatures, max_signatures, p.max_signatures,
                   "[limits] max_dkim_signatures", "[policy] max_signatures", c);
  }
  if (root.get("arc")) {
    TableReader r(table_or_empty(root, "arc", origin), "arc", origin);
    r.get_string("domain", c.arc.domain, true);
    r.get_string("selector", c.arc.selector, true);
    std::string key;
    r.get_string("key", key, true);
    c.arc.key = r.absolute(key);
    c.arc.domain = ascii_lower(c.arc.domain);
  }
  {
    TableReader r(table_or_empty(root, "srs", origin), "srs", origin);
    auto& srs = c.srs;
    r.get_string("domain", srs.domain);
    srs.domain = ascii_lower(srs.domain.empty() ? c.server.hostname : srs.domain);
    r.get_string("secret", srs.secret);
    r.get_path("secret_file", srs.secret_file);
    r.get_strings("previous_secrets", srs.previous_secrets);
    r.get_duration("max_age", srs.max_age);
  }
  each_entry(root, "dkim", origin, [&](const toml::table& t) {
    TableReader r(t, "[dkim]", origin);
    DkimConfig d;
    r.get_string("domain", d.domain, true);
    r.get_string("selector", d.selector, true);
    r.get_path("key", d.key);
    c.dkim.push_back(d);
  });
  c.mqtt = config_reading::read_mqtt(root, origin);
  c.devices = config_reading::read_devices(root, origin);
  validate(c);
  return c;
}

Config load_config(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(file.string() + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), file);
}

}  // namespace herald
