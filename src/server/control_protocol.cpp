#include "server/control_protocol.h"

#include <array>
#include <charconv>
#include <utility>

#include "util/message_id.h"

namespace herald {
namespace {

constexpr std::array<std::pair<ControlVerb, std::string_view>, 4> kVerbs = {{
    {ControlVerb::retry, "retry"},
    {ControlVerb::hold, "hold"},
    {ControlVerb::release, "release"},
    {ControlVerb::bounce, "bounce"},
}};

constexpr std::string_view kAll = "--all";

std::string printable_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) c = '?';
  }
  return out;
}

}  // namespace

std::string_view to_string(ControlVerb verb) {
  for (const auto& [v, name] : kVerbs) {
    if (v == verb) return name;
  }
  return "?";
}

std::variant<ControlRequest, std::string> parse_control_request(std::string_view line) {
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

std::string control_response_line(const ControlResponse& response) {
  if (response.ok) return "ok " + std::to_string(response.changed) + "\n";
  return "error " + printable_ascii(response.error) + "\n";
}

std::optional<ControlResponse> parse_control_response(std::string_view line) {
  ControlResponse response;
  if (line.starts_with("ok ")) {
    const std::string_view number = line.substr(3);
    const auto [end, ec] =
        std::from_chars(number.data(), number.data() + number.size(), response.changed);
    if (ec != std::errc() || end != number.data() + number.size() || number.empty()) {
      return std::nullopt;
    }
    response.ok = true;
    return response;
  }
  if (line.starts_with("error ")) {
    response.error = std::string(line.substr(6));
    return response;
  }
  return std::nullopt;
}

}  // namespace herald
