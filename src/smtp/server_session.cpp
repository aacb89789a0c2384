// The session's core: the command table, the dispatch of command lines, the verbs that belong
// to no phase (RSET, NOOP, QUIT, VRFY, HELP) and the rules for errors and limits. The phases
// have their own files, after Stalwart's inbound session: server_session_ehlo.cpp (HELO, EHLO,
// STARTTLS), _mail.cpp, _rcpt.cpp, _data.cpp (DATA and BDAT content), _message.cpp (from
// the content to the commit) and _auth.cpp.
#include "smtp/server_session.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "smtp/server_session_steps.h"

namespace herald {
namespace {

using session_steps::answer;

// The set of session states a verb is valid in, as bits.
template <typename... States>
constexpr unsigned states(States... s) {
  return ((1u << static_cast<unsigned>(s)) | ...);
}
constexpr unsigned kAnyState = ~0u;

}  // namespace

// The command table (STYLE.md: one row per verb). A verb outside its states gets 503 with
// what to do first; a verb in its states with bad arguments gets 501 with its usage.
const ServerSession::CommandRule ServerSession::kCommandTable[] = {
    // RFC 5321 4.1.4: EHLO/HELO may come at any time and reset the transaction.
    {Verb::ehlo, kAnyState, &ServerSession::handle_ehlo, "EHLO domain-or-[address]"},
    {Verb::helo, kAnyState, &ServerSession::handle_helo, "HELO domain-or-[address]"},
    {Verb::mail, states(State::greeted), &ServerSession::handle_mail,
     "MAIL FROM:<address> [SIZE=octets] [BODY=7BIT|8BITMIME] [SMTPUTF8] [RET=FULL|HDRS] "
     "[ENVID=xtext] [BY=seconds;R|N[T]] [MT-PRIORITY=-9..9]"},
    {Verb::rcpt, states(State::in_mail), &ServerSession::handle_rcpt,
     "RCPT TO:<address> [NOTIFY=NEVER|SUCCESS,FAILURE,DELAY] [ORCPT=addr-type;xtext]"},
    // RFC 3030 2: DATA cannot join a transaction that BDAT began.
    {Verb::data, states(State::in_mail), &ServerSession::handle_data, "DATA"},
    {Verb::bdat, states(State::in_mail, State::in_chunks), &ServerSession::handle_bdat,
     "BDAT octets [LAST]"},
    {Verb::rset, kAnyState, &ServerSession::handle_rset, "RSET", true},
    {Verb::noop, kAnyState, &ServerSession::handle_noop, "NOOP", true},
    {Verb::quit, kAnyState, &ServerSession::handle_quit, "QUIT"},
    {Verb::vrfy, kAnyState, &ServerSession::handle_vrfy, "VRFY address", true},
    {Verb::help, kAnyState, &ServerSession::handle_help, "HELP", true},
    // RFC 3207 4: not in the middle of a transaction.
    {Verb::starttls, states(State::fresh, State::greeted), &ServerSession::handle_starttls,
     "STARTTLS"},
    {Verb::expn, kAnyState, &ServerSession::handle_not_implemented, "EXPN list", true},
    // RFC 4954 4: state rules are checked in handle_auth, after whether AUTH exists here.
    {Verb::auth, kAnyState, &ServerSession::handle_auth, "AUTH mechanism [initial-response]"},
};

ServerSession::ServerSession(const SessionSettings& settings, const Directory& directory,
                             const Clock& clock, PeerInfo peer, AuthFailureLimiter* auth_limiter)
    : settings_(settings),
      directory_(directory),
      clock_(clock),
      peer_(std::move(peer)),
      auth_limiter_(auth_limiter),
      trusted_network_(std::any_of(settings.trusted_networks.begin(),
                                   settings.trusted_networks.end(),
                                   [&](const IpNetwork& n) { return n.contains(peer_.ip); })) {}

Reply ServerSession::greeting() const {
  // RFC 2034 3: the greeting carries no enhanced status code.
  return make_reply(220, "", settings_.hostname + " ESMTP herald");
}

SessionStep ServerSession::on_command_line(std::string_view line) {
  // RFC 4954 4: within an AUTH exchange, a line is the client's response, not a command.
  if (auth_exchange_ != AuthExchange::none) return on_auth_response(line);
  const Command command = parse_command(line);
  if (command.error == CommandError::unrecognized) {
    return protocol_error(make_reply(500, "5.5.1", "Command unrecognized"));
  }
  const auto rule = std::find_if(std::begin(kCommandTable), std::end(kCommandTable),
                                 [&](const CommandRule& r) { return r.verb == command.verb; });
  // Postfix's smtpd_junk_command_limit: a client that only ever sends commands that lead to no
  // message holds a connection slot for nothing. RFC 5321 4.5.3.2 bounds each wait, not this.
  if (rule->non_mail && ++non_mail_commands_ > settings_.limits.max_non_mail_commands) {
    return answer(make_reply(421, "4.7.0",
                             settings_.hostname + " too many commands without mail, closing "
                                                  "connection"),
                  SessionStep::Next::close);
  }
  if ((rule->valid_states & states(state_)) == 0) return refuse_out_of_sequence(command);
  if (command.error != CommandError::none) return refuse_syntax(command, *rule);
  return (this->*rule->handle)(command);
}

SessionStep ServerSession::on_line_too_long() {
  auth_exchange_ = AuthExchange::none;
  // RFC 5321 4.5.3.1.4 lets a server refuse command lines past its limit (500).
  return protocol_error(make_reply(500, "5.5.2", "Line too long"));
}

// --- the verbs ---------------------------------------------------------------------------

SessionStep ServerSession::handle_rset(const Command&) {
  start_over(state_ == State::fresh ? State::fresh : State::greeted);
  return answer(make_reply(250, "2.0.0", "OK"));
}

SessionStep ServerSession::handle_noop(const Command&) {
  return answer(make_reply(250, "2.0.0", "OK"));
}

SessionStep ServerSession::handle_quit(const Command&) {
  return answer(make_reply(221, "2.0.0", settings_.hostname + " closing connection"),
                SessionStep::Next::close);
}

SessionStep ServerSession::handle_vrfy(const Command&) {
  // RFC 5321 3.5.3: 252 when the server will not verify but will accept and try.
  return answer(
      make_reply(252, "2.5.2", "Cannot VRFY user; send mail and delivery will be attempted"));
}

SessionStep ServerSession::handle_help(const Command&) {
  return answer(make_reply(214, "2.0.0",
                           "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP VRFY HELP STARTTLS "
                           "QUIT"));
}

SessionStep ServerSession::handle_not_implemented(const Command&) {
  return protocol_error(make_reply(502, "5.5.1", "Command not implemented"));
}

// --- errors and limits -------------------------------------------------------------------

Reply ServerSession::timeout_reply() const {
  return make_reply(421, "4.4.2", settings_.hostname + " timeout, closing connection");
}

Reply ServerSession::session_time_reply() const {
  return make_reply(421, "4.4.2",
                    settings_.hostname + " session time limit reached, closing connection");
}

Reply ServerSession::shutdown_reply() const {
  return make_reply(421, "4.3.2", settings_.hostname + " shutting down");
}

Reply too_many_connections_reply(std::string_view hostname) {
  return make_reply(421, "4.7.0", std::string(hostname) + " too many connections, try again later");
}

SessionStep ServerSession::refuse_syntax(const Command& command, const CommandRule& rule) {
  switch (command.error) {
    case CommandError::bad_path:
      return protocol_error(command.verb == Verb::mail
                                ? make_reply(501, "5.1.7", "Bad sender address syntax")
                                : make_reply(501, "5.1.3", "Bad recipient address syntax"));
    case CommandError::unsupported_parameter:
      // RFC 5321 4.1.1.11: 555 for a MAIL/RCPT parameter the server does not know.
      return protocol_error(
          make_reply(555, "5.5.4", "Unsupported parameter " + command.error_detail));
    default:
      return protocol_error(make_reply(501, "5.5.4", "Syntax: " + std::string(rule.usage)));
  }
}

SessionStep ServerSession::refuse_out_of_sequence(const Command& command) {
  Reply refusal = make_reply(503, "5.5.1", sequence_hint());
  if (command.verb == Verb::bdat && command.error == CommandError::none) {
    chunk_refusal_ = std::move(refusal);
    return SessionStep{std::nullopt, SessionStep::Next::read_chunk, command.chunk_size};
  }
  return protocol_error(std::move(refusal));
}

// What the client must do before the verb it sent makes sense here.
std::string ServerSession::sequence_hint() const {
  switch (state_) {
    case State::fresh:
      return "Send EHLO or HELO first";
    case State::greeted:
      return "Send MAIL first";
    case State::in_mail:
      return "Transaction in progress; send RSET first";
    case State::in_chunks:
      return "BDAT transfer in progress; send BDAT LAST or RSET first";
  }
  return "Send RSET first";
}

// Counts the client's protocol errors; past limits.max_errors the session ends instead of
// answering, which stops clients that probe addresses or send garbage.
SessionStep ServerSession::protocol_error(Reply r) {
  ++errors_;
  if (errors_ > settings_.limits.max_errors) {
    return answer(
        make_reply(421, "4.7.0", settings_.hostname + " too many errors, closing connection"),
        SessionStep::Next::close);
  }
  return answer(std::move(r));
}

std::string_view ServerSession::close_reason() const {
  if (errors_ > settings_.limits.max_errors) return "too-many-errors";
  if (non_mail_commands_ > settings_.limits.max_non_mail_commands)
    return "too-many-non-mail-commands";
  return "quit";
}

void ServerSession::start_over(State state) {
  // A transaction that ends here without its commit leaves its body pieces to be dropped.
  if (arriving_) abandoned_.push_back(*std::exchange(arriving_, std::nullopt));
  state_ = state;
  transaction_ = Transaction{};
  chunk_refusal_.reset();
}

// RFC 3848 2 and RFC 6531 3.7.3: the with-type of the Received header ("S" for TLS, "A"
// for AUTH: ESMTPSA for submission).
std::string ServerSession::with_protocol() const {
  std::string protocol = transaction_.parameters.smtputf8 ? "UTF8SMTP"
                         : extended_                      ? "ESMTP"
                                                          : "SMTP";
  if (tls_ && protocol != "SMTP") protocol += 'S';
  if (!authenticated_as_.empty() && protocol != "SMTP") protocol += 'A';
  return protocol;
}

}  // namespace herald
