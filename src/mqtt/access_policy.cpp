#include "mqtt/access_policy.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "directory/password_hash.h"
#include "mqtt/topic.h"

namespace herald::mqtt {
namespace {

// Configured filters are checked for their syntax only (MQTT 5 4.7): [mqtt] max_topic_length
// and max_topic_levels bound what clients send, and a deep "a/b/c/#" still covers "a/b/c".
constexpr TopicLimits kAnySize{65'535, std::numeric_limits<size_t>::max()};

void check_filters(const std::vector<std::string>& filters, const std::string& owner,
                   std::string_view list) {
  for (const std::string& filter : filters) {
    const std::string named = owner + " " + std::string(list) + " filter '" + filter + "'";
    if (const TopicError error = check_topic_filter(filter, kAnySize); error != TopicError::none) {
      throw ConfigError(named + " is not a valid topic filter: " + std::string(to_string(error)));
    }
    if (split_shared_filter(filter)) {
      throw ConfigError(named + " is a shared subscription; give the filter after the group " +
                        "(a subscription to $share/GROUP/F is checked as F)");
    }
  }
}

std::vector<std::string_view> levels_of(std::string_view filter) {
  std::vector<std::string_view> levels;
  for (size_t at = 0;;) {
    const size_t slash = filter.find('/', at);
    if (slash == std::string_view::npos) {
      levels.push_back(filter.substr(at));
      return levels;
    }
    levels.push_back(filter.substr(at, slash - at));
    at = slash + 1;
  }
}

// A filter as its levels before a trailing "#", and whether it has one.
struct SplitFilter {
  std::vector<std::string_view> levels;  // literals and "+"
  bool multi_level = false;              // ends in "#": any further levels, or none
};

SplitFilter split(std::string_view filter) {
  SplitFilter out{levels_of(filter)};
  out.multi_level = out.levels.back() == "#";
  if (out.multi_level) out.levels.pop_back();
  return out;
}

// The fewest levels a topic matched by `f` has. "a/#" matches "a" (MQTT 5 4.7.1.2), but "/#"
// does not match "", which is no topic [MQTT-4.7.3-1]: its shortest is "/", two levels.
size_t fewest_levels(const SplitFilter& f) {
  if (!f.multi_level) return f.levels.size();
  if (f.levels.empty()) return 1;
  const bool parent_is_empty = f.levels.size() == 1 && f.levels.front().empty();
  return parent_is_empty ? 2 : f.levels.size();
}

// Whether the topics `f` matches have each number of levels that `by` allows.
bool lengths_covered(const SplitFilter& by, const SplitFilter& f) {
  if (!by.multi_level) return !f.multi_level && f.levels.size() == by.levels.size();
  return fewest_levels(f) >= fewest_levels(by);
}

// Whether every value a topic level matched by `inner` may have, `outer` matches too.
bool level_covers(std::string_view outer, std::string_view inner) {
  return outer == "+" || (inner != "+" && outer == inner);
}

bool any_matches(const std::vector<std::string>& filters, std::string_view topic) {
  return std::any_of(filters.begin(), filters.end(),
                     [&](const std::string& filter) { return topic_matches(topic, filter); });
}

bool any_covers(const std::vector<std::string>& filters, std::string_view inner) {
  return std::any_of(filters.begin(), filters.end(),
                     [&](const std::string& outer) { return filter_covers(outer, inner); });
}

}  // namespace

bool filter_covers(std::string_view outer_text, std::string_view inner_text) {
  const SplitFilter outer = split(outer_text);
  const SplitFilter inner = split(inner_text);
  // MQTT 5 4.7.2 [MQTT-4.7.2-1]: an outer filter starting with a wildcard misses every
  // topic starting with '$', and an inner one starting with a literal "$…" level matches
  // only such topics.
  const bool outer_starts_wild = outer.levels.empty() || outer.levels.front() == "+";
  const bool inner_only_dollar = !inner.levels.empty() && inner.levels.front().starts_with('$');
  if (outer_starts_wild && inner_only_dollar) return false;
  if (!lengths_covered(outer, inner)) return false;
  for (size_t k = 0; k < outer.levels.size(); ++k) {
    // Past the inner filter's own levels only its "#" reaches, matching any value there
    // (inner "#" against outer "+/#", inner "/#" against outer "/+/#").
    const std::string_view inner_level = k < inner.levels.size() ? inner.levels[k] : "+";
    if (!level_covers(outer.levels[k], inner_level)) return false;
  }
  return true;
}

Grant::Grant(std::string username, std::vector<std::string> publish,
             std::vector<std::string> subscribe, std::vector<std::string> deny)
    : username_(std::move(username)),
      publish_(std::move(publish)),
      subscribe_(std::move(subscribe)),
      deny_(std::move(deny)) {}

const std::string& Grant::username() const {
  return username_;
}

bool Grant::may_publish(std::string_view topic) const {
  return any_matches(publish_, topic) && !any_matches(deny_, topic);
}

bool Grant::may_subscribe(std::string_view filter) const {
  const std::optional<SharedFilter> shared = split_shared_filter(filter);
  const std::string_view plain = shared ? shared->filter : filter;
  return any_covers(subscribe_, plain) && !any_covers(deny_, plain);
}

bool Grant::may_receive(std::string_view topic) const {
  return any_matches(subscribe_, topic) && !any_matches(deny_, topic);
}

AccessPolicy::AccessPolicy(const MqttConfig& mqtt, const std::vector<DeviceConfig>& devices,
                           PasswordCheck check)
    : check_(check ? std::move(check) : PasswordCheck(password_matches)) {
  check_filters(mqtt.deny, "[mqtt]", "deny");
  check_filters(mqtt.anonymous_publish, "[mqtt]", "anonymous_publish");
  check_filters(mqtt.anonymous_subscribe, "[mqtt]", "anonymous_subscribe");
  for (const DeviceConfig& device : devices) {
    const std::string owner = "[[device]] " + device.username + ":";
    check_filters(device.publish, owner, "publish");
    check_filters(device.subscribe, owner, "subscribe");
    devices_.emplace(
        device.username,
        Device{device.password_hash, std::make_shared<const Grant>(device.username, device.publish,
                                                                   device.subscribe, mqtt.deny)});
  }
  if (mqtt.allow_anonymous) {
    anonymous_ = std::make_shared<const Grant>("", mqtt.anonymous_publish, mqtt.anonymous_subscribe,
                                               mqtt.deny);
  }
  dummy_hash_ = dummy_password_hash(
      devices.empty() ? std::string_view() : std::string_view(devices.front().password_hash));
}

LoginResult AccessPolicy::login(std::optional<std::string_view> username,
                                std::optional<std::string_view> password) const {
  if (!username) {
    if (password) return LoginRefusal::bad_credentials;
    if (anonymous_) return anonymous_;
    return LoginRefusal::not_authorized;
  }
  // Mosquitto's defaults: with no accounts at all, a username is just a name.
  if (devices_.empty() && anonymous_) return anonymous_;
  const auto device = devices_.find(*username);
  // A known device without a password costs the same crypt(3) run as an unknown one.
  if (device == devices_.end() || !password) return refuse_after_dummy_check(password.value_or(""));
  if (!check_(device->second.password_hash, *password)) return LoginRefusal::bad_credentials;
  return device->second.grant;
}

LoginResult AccessPolicy::refuse_after_dummy_check(std::string_view password) const {
  // The answer is thrown away: only the time it takes matters.
  check_(dummy_hash_, password);
  return LoginRefusal::bad_credentials;
}

}  // namespace herald::mqtt
