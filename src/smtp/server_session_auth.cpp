// AUTH (RFC 4954) with PLAIN (RFC 4616) and LOGIN, and the failures the limiter counts.

#include "smtp/server_session.h"
#include "smtp/server_session_steps.h"
#include "util/ascii.h"

namespace herald {
namespace {

using session_steps::answer;
using session_steps::work;

// draft-murchison-sasl-login: the server's two prompts, "Username:" and "Password:".
constexpr std::string_view kLoginNamePrompt = "VXNlcm5hbWU6";
constexpr std::string_view kLoginPasswordPrompt = "UGFzc3dvcmQ6";

// RFC 4954 4: a challenge is "334 " and base64; it carries no enhanced status code.
SessionStep challenge(std::string_view text) {
  return answer(make_reply(334, "", std::string(text)));
}

}  // namespace

// RFC 4954 4: AUTH mechanism [initial-response].
SessionStep ServerSession::handle_auth(const Command& command) {
  if (!settings_.submission) return handle_not_implemented(command);
  // RFC 4954 4: AUTH comes after EHLO and not within a mail transaction.
  if (state_ != State::greeted) return refuse_out_of_sequence(command);
  // RFC 4954 6: 538 when the mechanism (any here: PLAIN and LOGIN send the password)
  // needs an encrypted channel.
  if (!tls_) {
    return protocol_error(
        make_reply(538, "5.7.11", "Encryption required for requested authentication mechanism"));
  }
  // RFC 4954 4: after a successful AUTH, another AUTH is a 503.
  if (!authenticated_as_.empty()) {
    return protocol_error(make_reply(503, "5.5.1", "Already authenticated"));
  }
  if (auth_limiter_ && auth_limiter_->blocked(peer_.ip)) {
    return answer(make_reply(454, "4.7.0", "Too many failed authentications, try later"));
  }
  const std::string_view text = command.text;
  const size_t space = text.find(' ');
  const std::string_view mechanism = text.substr(0, space);
  std::optional<std::string_view> initial;
  if (space != std::string_view::npos) initial = text.substr(space + 1);
  if (mechanism.empty() || (initial && initial->empty())) {
    return protocol_error(make_reply(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"));
  }
  const bool plain = equals_ignoring_ascii_case(mechanism, "PLAIN");
  if (!plain && !equals_ignoring_ascii_case(mechanism, "LOGIN")) {
    return protocol_error(make_reply(504, "5.5.4", "Unrecognized authentication type"));
  }
  if (!initial) {
    auth_exchange_ = plain ? AuthExchange::plain_message : AuthExchange::login_name;
    return challenge(plain ? "" : kLoginNamePrompt);
  }
  // RFC 4954 4: "=" is an initial response of zero length.
  auth_exchange_ = plain ? AuthExchange::plain_message : AuthExchange::login_name;
  return on_auth_response(*initial == "=" ? std::string_view() : *initial);
}

// One line of the client within an AUTH exchange (or its initial response).
SessionStep ServerSession::on_auth_response(std::string_view line) {
  const AuthExchange exchange = auth_exchange_;
  auth_exchange_ = AuthExchange::none;
  // RFC 4954 4: "*" cancels the exchange.
  if (line == "*") return protocol_error(make_reply(501, "5.7.0", "Authentication cancelled"));
  const std::optional<std::string> decoded = decode_base64(line);
  if (!decoded) return protocol_error(make_reply(501, "5.5.2", "Cannot decode response"));
  switch (exchange) {
    case AuthExchange::plain_message: {
      std::optional<SaslCredentials> credentials = parse_plain_message(*decoded);
      if (!credentials) {
        // RFC 4616 2: authzid, authcid and password separated by NUL; herald has no proxy
        // authorization, so an authzid other than the authcid is refused too.
        return protocol_error(make_reply(501, "5.5.2", "Malformed PLAIN response"));
      }
      return check(std::move(*credentials));
    }
    case AuthExchange::login_name:
      return take_login_name(*decoded);
    case AuthExchange::login_password:
      credentials_.password = *decoded;
      return check(std::move(credentials_));
    case AuthExchange::none:
      break;
  }
  return protocol_error(make_reply(503, "5.5.1", "No authentication in progress"));
}

SessionStep ServerSession::take_login_name(std::string_view decoded) {
  if (decoded.empty()) return protocol_error(make_reply(501, "5.5.2", "Empty user name"));
  credentials_ = SaslCredentials{std::string(decoded), ""};
  auth_exchange_ = AuthExchange::login_password;
  return challenge(kLoginPasswordPrompt);
}

SessionStep ServerSession::check(SaslCredentials credentials) {
  credentials_ = std::move(credentials);
  return work(SessionStep::Next::check_credentials);
}

SessionStep ServerSession::on_credentials_checked(std::optional<std::string> user) {
  credentials_ = SaslCredentials{};
  if (!user) {
    if (auth_limiter_) auth_limiter_->record_failure(peer_.ip);
    return answer(make_reply(535, "5.7.8", "Authentication credentials invalid"));
  }
  authenticated_as_ = std::move(*user);
  return answer(make_reply(235, "2.7.0", "Authentication successful"));
}

}  // namespace herald
