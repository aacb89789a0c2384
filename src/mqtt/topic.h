// Topic names and topic filters (MQTT 5 4.7, MQTT 3.1.1 4.7): checking them, matching a
// name against a filter, and splitting a shared subscription (MQTT 5 4.8.2).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace herald::mqtt {

// What herald accepts beyond the spec's own limit of 65,535 bytes (MQTT 5 4.7.3).
struct TopicLimits {
  size_t max_length = 65'535;  // bytes
  size_t max_levels = 128;     // "a/b/c" has three
};

enum class TopicError {
  none,
  empty,                    // MQTT 5 4.7.3: at least one character [MQTT-4.7.3-1]
  too_long,                 // longer than TopicLimits::max_length
  too_many_levels,          // more levels than TopicLimits::max_levels
  wildcard_in_name,         // '+' or '#' in a topic name [MQTT-3.3.2-2]
  misplaced_wildcard,       // '#' not alone and last, '+' not alone in its level (4.7.1.2, 4.7.1.3)
  bad_character,            // ill-formed UTF-8, U+0000, or a code point utf8.h calls discouraged
  bad_shared_subscription,  // "$share/" without a valid group and filter (4.8.2)
};

std::string_view to_string(TopicError error);

// A PUBLISH or will topic name.
TopicError check_topic_name(std::string_view name, const TopicLimits& limits);

// A SUBSCRIBE or UNSUBSCRIBE topic filter, "$share/{group}/{filter}" included: the limits
// apply to the whole of it, the wildcard rules to the filter part.
TopicError check_topic_filter(std::string_view filter, const TopicLimits& limits);

// A shared subscription's parts (MQTT 5 4.8.2). Views into the string given.
struct SharedFilter {
  std::string_view group;   // one or more characters, no '/', '+' or '#' [MQTT-4.8.2-2]
  std::string_view filter;  // what the members' topics are matched against
};

// The parts of "$share/{group}/{filter}"; nullopt when `filter` does not start with
// "$share/", or does but lacks a valid group or a filter after it (check_topic_filter
// reports the latter as bad_shared_subscription).
std::optional<SharedFilter> split_shared_filter(std::string_view filter);

// Whether topic name `name` matches topic filter `filter`, both valid and the filter not a
// shared one (match against SharedFilter::filter). MQTT 5 4.7.2: a filter starting with a
// wildcard does not match a name starting with '$' [MQTT-4.7.2-1]. 4.7.1.2: "sport/#"
// matches "sport" too.
bool topic_matches(std::string_view name, std::string_view filter);

}  // namespace herald::mqtt
