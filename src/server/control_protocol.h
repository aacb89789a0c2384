// The line protocol of heraldd's control socket (server/control_socket.h), spoken by
// `herald queue retry | hold | release | bounce` and `herald mqtt sessions`. Text, so that an
// operator can also use it by hand (`socat - UNIX-CONNECT:data_dir/control.sock`).
//
// One request per connection, one line, at most kMaxControlRequest octets with its LF
// (a CR before the LF is allowed):
//
//   retry ID | retry --all | hold ID | release ID | bounce ID | mqtt sessions [LIMIT]
//
// ID is a message id as stored (util/message_id.h: 26 characters of upper-case Crockford
// base32). `--all` means every message; only `retry` takes it, because holding or bouncing
// the whole queue by a slip of the keyboard would be hard to undo. The answer to a queue
// change is one line, then the server closes the connection:
//
//   ok N         the action is durable; N deliveries changed (0: nothing needed changing)
//   error TEXT   nothing changed; TEXT says why in words (no such message, bad request,
//                store failure), printable ASCII only
//
// `mqtt sessions` lists the MQTT sessions connected now, in client id order, at most LIMIT
// of them (a decimal number; absent: every one). The answer is one line per session, eight
// fields separated by tabs:
//
//   CLIENT-ID  PEER  VERSION  CONNECTED  SUBSCRIPTIONS  HELD  HELD-BYTES  IN-FLIGHT
//
// (VERSION "5" or "3.1.1"; CONNECTED as util/time_text.h format_utc writes it; HELD the
// messages waiting and in flight; IN-FLIGHT those sent at QoS 1 or 2 and not acknowledged),
// then `ok N`, N the number of sessions in all (more than the lines when LIMIT cut them).
// Client ids are UTF-8 of the client's choosing: a control character in one (a tab, say)
// comes as \xNN (server/printable_text.h), so a field never holds a tab and a line holding
// one is always a session; `ok` and `error` lines never do.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "mqtt/session_snapshot.h"

namespace herald {

inline constexpr size_t kMaxControlRequest = 128;

// Where heraldd serves the socket and herald looks for it.
inline std::filesystem::path control_socket_path(const std::filesystem::path& data_dir) {
  return data_dir / "control.sock";
}

enum class ControlVerb { retry, hold, release, bounce };

std::string_view to_string(ControlVerb verb);

// A change to the queue.
struct ControlRequest {
  ControlVerb verb = ControlVerb::retry;
  std::string message_id;  // empty: every message (retry --all)

  bool operator==(const ControlRequest&) const = default;
};

// `mqtt sessions [LIMIT]`.
struct MqttSessionsRequest {
  std::optional<size_t> limit;  // nullopt: every session

  bool operator==(const MqttSessionsRequest&) const = default;
};

// Parses one request line, without its line ending. On failure, the text for `error TEXT`.
std::variant<ControlRequest, MqttSessionsRequest, std::string> parse_control_request(
    std::string_view line);

// The request as sent, LF included.
std::string control_request_line(const ControlRequest& request);
std::string control_request_line(const MqttSessionsRequest& request);

struct ControlResponse {
  bool ok = false;
  size_t changed = 0;  // when ok
  std::string error;   // when not ok

  bool operator==(const ControlResponse&) const = default;
};

// The response as sent, LF included. Control characters and non-ASCII octets in an error
// text become '?', so that the answer stays one line and safe for the operator's terminal.
std::string control_response_line(const ControlResponse& response);

// Parses one response line, without its line ending; nullopt when it is not one.
std::optional<ControlResponse> parse_control_response(std::string_view line);

// The whole answer to `mqtt sessions`: a line per session, then `ok TOTAL`; LFs included.
std::string mqtt_sessions_response_text(const mqtt::SessionList& list);

// Whether a line of an answer is a session's (it holds a tab) rather than its last line.
bool is_mqtt_session_line(std::string_view line);

// Parses one session line, without its line ending; nullopt when it is not one. The client
// id and peer come as sent, escapes and all.
std::optional<mqtt::SessionSnapshot> parse_mqtt_session_line(std::string_view line);

}  // namespace herald
