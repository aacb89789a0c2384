#include "server/control_protocol.h"

#include <array>
#include <charconv>
#include <utility>
#include <vector>

#include "server/printable_text.h"
#include "util/message_id.h"
#include "util/time_text.h"

namespace herald {
namespace {

constexpr std::array<std::pair<ControlVerb, std::string_view>, 4> kVerbs = {{
    {ControlVerb::retry, "retry"},
    {ControlVerb::hold, "hold"},
    {ControlVerb::release, "release"},
    {ControlVerb::bounce, "bounce"},
}};

constexpr std::string_view kAll = "--all";
constexpr std::string_view kMqtt = "mqtt";
constexpr std::string_view kSessions = "sessions";
constexpr size_t kSessionFields = 8;

std::string printable_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) c = '?';
  }
  return out;
}

template <typename Number>
std::optional<Number> number_from(std::string_view text) {
  Number n{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return n;
}

// What follows "mqtt": " sessions" or " sessions LIMIT".
std::variant<ControlRequest, MqttSessionsRequest, std::string> parse_mqtt_request(
    std::string_view rest) {
  const std::string_view usage = " (mqtt sessions [LIMIT])";
  if (!rest.starts_with(' ')) return "expected an mqtt request" + std::string(usage);
  rest.remove_prefix(1);
  const std::string_view what = rest.substr(0, rest.find(' '));
  if (what != kSessions) {
    return "unknown mqtt request '" + printable_ascii(what) + "'" + std::string(usage);
  }
  if (what.size() == rest.size()) return MqttSessionsRequest{};
  const std::string_view limit = rest.substr(what.size() + 1);
  const std::optional<size_t> n = number_from<size_t>(limit);
  if (!n) return "'" + printable_ascii(limit) + "' is not a number of sessions";
  return MqttSessionsRequest{.limit = *n};
}

std::optional<mqtt::ProtocolVersion> version_from(std::string_view text) {
  for (const auto version : {mqtt::ProtocolVersion::v5, mqtt::ProtocolVersion::v3_1_1}) {
    if (text == mqtt::version_name(version)) return version;
  }
  return std::nullopt;
}

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> fields;
  for (size_t start = 0;;) {
    const size_t tab = line.find('\t', start);
    fields.push_back(line.substr(start, tab - start));
    if (tab == std::string_view::npos) return fields;
    start = tab + 1;
  }
}

}  // namespace

std::string_view to_string(ControlVerb verb) {
  for (const auto& [v, name] : kVerbs) {
    if (v == verb) return name;
  }
  return "?";
}

std::variant<ControlRequest, MqttSessionsRequest, std::string> parse_control_request(
    std::string_view line) {
  if (line.starts_with(kMqtt) && (line.size() == kMqtt.size() || line[kMqtt.size()] == ' ')) {
    return parse_mqtt_request(line.substr(kMqtt.size()));
  }
  const size_t space = line.find(' ');
  if (space == std::string_view::npos) {
    return std::string("expected VERB ID (retry, hold, release, bounce)");
  }
  const std::string_view verb_text = line.substr(0, space);
  const std::string_view argument = line.substr(space + 1);
  ControlRequest request;
  bool known = false;
  for (const auto& [verb, name] : kVerbs) {
    if (verb_text == name) {
      request.verb = verb;
      known = true;
    }
  }
  if (!known) {
    return "unknown verb '" + printable_ascii(verb_text) + "' (retry, hold, release, bounce)";
  }
  if (argument == kAll) {
    if (request.verb != ControlVerb::retry) {
      return std::string(verb_text) + " takes one message id, not --all";
    }
    return request;
  }
  if (!is_message_id(argument)) {
    return "'" + printable_ascii(argument) +
           "' is not a message id (26 characters of upper-case Crockford base32)";
  }
  request.message_id = std::string(argument);
  return request;
}

std::string control_request_line(const ControlRequest& request) {
  const std::string_view argument =
      request.message_id.empty() ? kAll : std::string_view(request.message_id);
  return std::string(to_string(request.verb)) + " " + std::string(argument) + "\n";
}

std::string control_request_line(const MqttSessionsRequest& request) {
  std::string line = std::string(kMqtt) + " " + std::string(kSessions);
  if (request.limit) line += " " + std::to_string(*request.limit);
  return line + "\n";
}

std::string control_response_line(const ControlResponse& response) {
  if (response.ok) return "ok " + std::to_string(response.changed) + "\n";
  return "error " + printable_ascii(response.error) + "\n";
}

std::optional<ControlResponse> parse_control_response(std::string_view line) {
  ControlResponse response;
  if (line.starts_with("ok ")) {
    const std::optional<size_t> changed = number_from<size_t>(line.substr(3));
    if (!changed) return std::nullopt;
    response.ok = true;
    response.changed = *changed;
    return response;
  }
  if (line.starts_with("error ")) {
    response.error = std::string(line.substr(6));
    return response;
  }
  return std::nullopt;
}

std::string mqtt_sessions_response_text(const mqtt::SessionList& list) {
  std::string text;
  for (const mqtt::SessionSnapshot& session : list.sessions) {
    text += printable(session.client_id) + "\t" + printable(session.peer) + "\t" +
            std::string(mqtt::version_name(session.version)) + "\t" +
            format_utc(session.connected) + "\t" + std::to_string(session.subscriptions) + "\t" +
            std::to_string(session.held) + "\t" + std::to_string(session.held_bytes) + "\t" +
            std::to_string(session.in_flight) + "\n";
  }
  return text + control_response_line(ControlResponse{.ok = true, .changed = list.total});
}

bool is_mqtt_session_line(std::string_view line) {
  return line.find('\t') != std::string_view::npos;
}

std::optional<mqtt::SessionSnapshot> parse_mqtt_session_line(std::string_view line) {
  const std::vector<std::string_view> fields = split_tabs(line);
  if (fields.size() != kSessionFields) return std::nullopt;
  const auto version = version_from(fields[2]);
  const auto connected = parse_utc(fields[3]);
  const auto subscriptions = number_from<size_t>(fields[4]);
  const auto held = number_from<uint32_t>(fields[5]);
  const auto held_bytes = number_from<uint64_t>(fields[6]);
  const auto in_flight = number_from<uint32_t>(fields[7]);
  if (!version || !connected || !subscriptions || !held || !held_bytes || !in_flight) {
    return std::nullopt;
  }
  return mqtt::SessionSnapshot{.client_id = std::string(fields[0]),
                               .peer = std::string(fields[1]),
                               .version = *version,
                               .connected = *connected,
                               .subscriptions = *subscriptions,
                               .held = *held,
                               .held_bytes = *held_bytes,
                               .in_flight = *in_flight};
}

}  // namespace herald
