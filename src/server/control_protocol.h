// The line protocol of heraldd's control socket (server/control_socket.h), spoken by
// `herald queue retry | hold | release | bounce`. Text, so that an operator can also use it
// by hand (`socat - UNIX-CONNECT:data_dir/control.sock`).
//
// One request per connection, one line, at most kMaxControlRequest octets with its LF
// (a CR before the LF is allowed):
//
//   retry ID | retry --all | hold ID | release ID | bounce ID
//
// ID is a message id as stored (util/message_id.h: 26 characters of upper-case Crockford
// base32). `--all` means every message; only `retry` takes it, because holding or bouncing
// the whole queue by a slip of the keyboard would be hard to undo. The answer is one line,
// then the server closes the connection:
//
//   ok N         the action is durable; N deliveries changed (0: nothing needed changing)
//   error TEXT   nothing changed; TEXT says why in words (no such message, bad request,
//                store failure), printable ASCII only
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace herald {

inline constexpr size_t kMaxControlRequest = 128;

// Where heraldd serves the socket and herald looks for it.
inline std::filesystem::path control_socket_path(const std::filesystem::path& data_dir) {
  return data_dir / "control.sock";
}

enum class ControlVerb { retry, hold, release, bounce };

std::string_view to_string(ControlVerb verb);

struct ControlRequest {
  ControlVerb verb = ControlVerb::retry;
  std::string message_id;  // empty: every message (retry --all)

  bool operator==(const ControlRequest&) const = default;
};

// Parses one request line, without its line ending. On failure, the text for `error TEXT`.
std::variant<ControlRequest, std::string> parse_control_request(std::string_view line);

// The request as sent, LF included.
std::string control_request_line(const ControlRequest& request);

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

}  // namespace herald
