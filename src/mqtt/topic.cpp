#include "mqtt/topic.h"

#include "mqtt/utf8.h"

namespace herald::mqtt {
namespace {

constexpr std::string_view kSharePrefix = "$share/";

// The level of `topic` starting at `at`, up to the next '/' or the end.
std::string_view level_at(std::string_view topic, size_t at) {
  const size_t slash = topic.find('/', at);
  return topic.substr(at, slash == std::string_view::npos ? std::string_view::npos : slash - at);
}

size_t level_count(std::string_view topic) {
  size_t levels = 1;
  for (const char c : topic) levels += c == '/';
  return levels;
}

TopicError check_common(std::string_view topic, const TopicLimits& limits) {
  if (topic.empty()) return TopicError::empty;
  if (topic.size() > limits.max_length) return TopicError::too_long;
  if (!is_mqtt_utf8(topic) || has_discouraged_code_points(topic)) {
    return TopicError::bad_character;
  }
  if (level_count(topic) > limits.max_levels) return TopicError::too_many_levels;
  return TopicError::none;
}

// MQTT 5 4.7.1.2 and 4.7.1.3: '#' only as the whole last level, '+' only as a whole level.
TopicError check_wildcards(std::string_view filter) {
  for (size_t at = 0;;) {
    const std::string_view level = level_at(filter, at);
    const bool last = at + level.size() == filter.size();
    if (level.find_first_of("+#") != std::string_view::npos && level != "+" &&
        !(level == "#" && last)) {
      return TopicError::misplaced_wildcard;
    }
    if (last) return TopicError::none;
    at += level.size() + 1;
  }
}

}  // namespace

std::string_view to_string(TopicError error) {
  switch (error) {
    case TopicError::none:
      return "valid";
    case TopicError::empty:
      return "empty topic";
    case TopicError::too_long:
      return "topic too long";
    case TopicError::too_many_levels:
      return "topic has too many levels";
    case TopicError::wildcard_in_name:
      return "wildcard in a topic name";
    case TopicError::misplaced_wildcard:
      return "wildcard not alone in its topic level, or '#' not last";
    case TopicError::bad_character:
      return "topic holds a character that is not allowed";
    case TopicError::bad_shared_subscription:
      return "shared subscription without a valid group and filter";
  }
  return "invalid topic";
}

TopicError check_topic_name(std::string_view name, const TopicLimits& limits) {
  if (const TopicError error = check_common(name, limits); error != TopicError::none) {
    return error;
  }
  if (name.find_first_of("+#") != std::string_view::npos) return TopicError::wildcard_in_name;
  return TopicError::none;
}

TopicError check_topic_filter(std::string_view filter, const TopicLimits& limits) {
  if (const TopicError error = check_common(filter, limits); error != TopicError::none) {
    return error;
  }
  if (filter.starts_with(kSharePrefix)) {
    const std::optional<SharedFilter> shared = split_shared_filter(filter);
    if (!shared) return TopicError::bad_shared_subscription;
    return check_wildcards(shared->filter);
  }
  return check_wildcards(filter);
}

std::optional<SharedFilter> split_shared_filter(std::string_view filter) {
  if (!filter.starts_with(kSharePrefix)) return std::nullopt;
  const std::string_view rest = filter.substr(kSharePrefix.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size()) {
    return std::nullopt;
  }
  const std::string_view group = rest.substr(0, slash);
  if (group.find_first_of("+#") != std::string_view::npos) return std::nullopt;
  return SharedFilter{group, rest.substr(slash + 1)};
}

bool topic_matches(std::string_view name, std::string_view filter) {
  if (name.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#'))) {
    return false;
  }
  size_t n = 0;
  size_t f = 0;
  while (true) {
    const std::string_view filter_level = level_at(filter, f);
    if (filter_level == "#") return true;  // the rest, or nothing ("a/#" matches "a")
    const bool name_done = n > name.size();
    if (name_done) return false;
    const std::string_view name_level = level_at(name, n);
    if (filter_level != "+" && filter_level != name_level) return false;
    n += name_level.size() + 1;
    f += filter_level.size() + 1;
    const bool filter_done = f > filter.size();
    if (filter_done) return n > name.size();
    // The name ended but the filter goes on: only a following "#" level still matches.
    if (n > name.size()) return level_at(filter, f) == "#";
  }
}

}  // namespace herald::mqtt
