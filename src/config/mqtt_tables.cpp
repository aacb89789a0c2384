#include "config/mqtt_tables.h"

#include <set>
#include <string>
#include <string_view>

#include "util/utf8.h"

namespace herald::config_reading {
namespace {

using namespace std::chrono_literals;

// MQTT 5 1.5.4 (3.1.1 1.5.3): a UTF-8 string field holds at most 65,535 octets.
constexpr size_t kMaxMqttString = 65'535;

// MQTT 5 1.5.4 [MQTT-1.5.4-1], [MQTT-1.5.4-2]: well-formed UTF-8 without U+0000. A username
// that breaks this could never arrive in a CONNECT, so the entry would be dead.
bool is_mqtt_utf8(std::string_view text) {
  for (size_t at = 0; at < text.size();) {
    const auto byte = static_cast<unsigned char>(text[at]);
    if (byte == 0) return false;
    if (byte < 0x80) {
      ++at;
      continue;
    }
    const size_t length = utf8_sequence_length(text, at);
    if (length == 0) return false;
    at += length;
  }
  return true;
}

QueueFullAction read_queue_full(TableReader& r) {
  std::string queue_full = "refuse";
  r.get_choice("queue_full", queue_full, {"refuse", "dead-letter"});
  return queue_full == "dead-letter" ? QueueFullAction::dead_letter : QueueFullAction::refuse;
}

void check_username(const std::string& username, const std::string& at) {
  if (username.empty()) throw ConfigError(at + ": [[device]] 'username' must not be empty");
  if (username.size() > kMaxMqttString) {
    throw ConfigError(at + ": [[device]] 'username' is longer than 65535 bytes, more than a " +
                      "CONNECT can carry (MQTT 5 1.5.4)");
  }
  if (!is_mqtt_utf8(username)) {
    throw ConfigError(at + ": [[device]] 'username' must be valid UTF-8 without U+0000 " +
                      "(MQTT 5 1.5.4)");
  }
}

// The keys are read before any value is checked, so that a misspelt key is reported as
// unknown rather than as the key it was meant to be being absent.
DeviceConfig read_device(const toml::table& t, const std::filesystem::path& origin) {
  DeviceConfig d;
  bool has_username = false;
  {
    TableReader r(t, "[device]", origin);
    has_username = r.node("username") != nullptr;
    r.get_string("username", d.username);
    r.get_string("password_hash", d.password_hash);
    r.get_strings("publish", d.publish);
    r.get_strings("subscribe", d.subscribe);
  }
  const std::string at = where(origin, t);
  if (!has_username) throw ConfigError(at + ": [[device]] needs 'username'");
  check_username(d.username, at);
  if (d.password_hash.empty()) {
    throw ConfigError(at + ": [[device]] " + d.username +
                      " needs a non-empty 'password_hash' (crypt(3), as `herald hash-password` "
                      "prints)");
  }
  return d;
}

}  // namespace

MqttConfig read_mqtt(const toml::table& root, const std::filesystem::path& origin) {
  TableReader r(table_or_empty(root, "mqtt", origin), "mqtt", origin);
  MqttConfig m;
  r.get<bool>("allow_anonymous", m.allow_anonymous);
  r.get_strings("anonymous_publish", m.anonymous_publish);
  r.get_strings("anonymous_subscribe", m.anonymous_subscribe);
  r.get_strings("deny", m.deny);
  // MQTT 5 3.2.2.3.14: Server Keep Alive is a two byte count of seconds, and 0 would mean
  // "no keep alive", an idle connection held for ever.
  r.get_duration("max_keepalive", m.max_keepalive, 1s, 65'535s);
  // MQTT 5 3.1.2.11.2: Session Expiry Interval is a four byte count of seconds.
  r.get_duration("max_session_expiry", m.max_session_expiry, 0s, std::chrono::seconds(0xFFFF'FFFF));
  r.get_duration("connect_timeout", m.connect_timeout, 1s, std::chrono::seconds::max());
  // MQTT 5 3.2.2.3.3: Receive Maximum is a two byte integer, and 0 is a protocol error.
  r.get_count("receive_maximum", m.receive_maximum, 1, 65'535);
  r.get_count("max_in_flight", m.max_in_flight, 1, 65'535);
  // MQTT 5 3.2.2.3.6: no packet is larger than a 5-byte fixed header with the largest
  // Remaining Length (268,435,455, MQTT 5 1.5.5). Below 64 octets a CONNECT with the 23-octet
  // client identifier every server must allow, a username and a password hardly fits.
  r.get_count("max_packet_size", m.max_packet_size, 64, 268'435'460);
  r.get_count("topic_alias_maximum", m.topic_alias_maximum, 0, 65'535);
  // MQTT 5 3.1.3.1 [MQTT-3.1.3-5]: a server must allow client identifiers of 23 octets; none
  // is longer than a UTF-8 string field.
  r.get_count("max_client_id_length", m.max_client_id_length, 23, kMaxMqttString);
  r.get_count("max_topic_length", m.max_topic_length, 1, kMaxMqttString);
  r.get_count("max_topic_levels", m.max_topic_levels, 1, 1024);
  r.get_count("max_subscriptions", m.max_subscriptions);
  r.get_count("max_queued_messages", m.max_queued_messages);
  r.get_count("max_queued_bytes", m.max_queued_bytes);
  m.queue_full = read_queue_full(r);
  r.get<bool>("dead_letter_events", m.dead_letter_events);
  r.get_count("max_connections", m.max_connections);
  r.get_count("max_connections_per_ip", m.max_connections_per_ip);
  return m;
}

std::vector<DeviceConfig> read_devices(const toml::table& root,
                                       const std::filesystem::path& origin) {
  std::vector<DeviceConfig> devices;
  std::set<std::string> usernames;
  each_entry(root, "device", origin, [&](const toml::table& t) {
    DeviceConfig d = read_device(t, origin);
    // Usernames compare as bytes, as CONNECT carries them: "Sensor-1" is another device.
    if (!usernames.insert(d.username).second) {
      throw ConfigError(where(origin, t) + ": [[device]] " + d.username + " is declared twice");
    }
    devices.push_back(std::move(d));
  });
  return devices;
}

}  // namespace herald::config_reading
