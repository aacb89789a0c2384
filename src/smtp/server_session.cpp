#include "smtp/server_session.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include "mime/header.h"
#include "smtp/identity_policy.h"
#include "smtp/received_header.h"
#include "util/ascii.h"
#include "util/message_id.h"

namespace herald {
namespace {

// The set of session states a verb is valid in, as bits.
template <typename... States>
constexpr unsigned states(States... s) {
  return ((1u << static_cast<unsigned>(s)) | ...);
}
constexpr unsigned kAnyState = ~0u;

SessionStep answer(Reply r, SessionStep::Next next = SessionStep::Next::read_command) {
  return SessionStep{std::move(r), next, 0};
}

std::string bracketed(const Path& path) {
  return "<" + path.address() + ">";
}

// draft-murchison-sasl-login: the server's two prompts, "Username:" and "Password:".
constexpr std::string_view kLoginNamePrompt = "VXNlcm5hbWU6";
constexpr std::string_view kLoginPasswordPrompt = "UGFzc3dvcmQ6";

// RFC 4954 4: a challenge is "334 " and base64; it carries no enhanced status code.
SessionStep challenge(std::string_view text) {
  return answer(make_reply(334, "", std::string(text)));
}

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
    {Verb::rset, kAnyState, &ServerSession::handle_rset, "RSET"},
    {Verb::noop, kAnyState, &ServerSession::handle_noop, "NOOP"},
    {Verb::quit, kAnyState, &ServerSession::handle_quit, "QUIT"},
    {Verb::vrfy, kAnyState, &ServerSession::handle_vrfy, "VRFY address"},
    {Verb::help, kAnyState, &ServerSession::handle_help, "HELP"},
    // RFC 3207 4: not in the middle of a transaction.
    {Verb::starttls, states(State::fresh, State::greeted), &ServerSession::handle_starttls,
     "STARTTLS"},
    {Verb::expn, kAnyState, &ServerSession::handle_not_implemented, "EXPN list"},
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

SessionStep ServerSession::handle_helo(const Command& command) {
  start_over(State::greeted);
  helo_ = command.helo_domain;
  extended_ = false;
  return answer(make_reply(250, "", settings_.hostname));
}

SessionStep ServerSession::handle_ehlo(const Command& command) {
  start_over(State::greeted);
  helo_ = command.helo_domain;
  extended_ = true;
  // RFC 2034 3: no enhanced codes in the EHLO reply; RFC 5321 4.1.1.1: one keyword a line.
  Reply r;
  r.code = 250;
  r.lines = {
      settings_.hostname + " greets " + helo_,
      "PIPELINING",                                                            // RFC 2920
      "SIZE " + std::to_string(settings_.limits.max_message_size),             // RFC 1870
      "8BITMIME",                                                              // RFC 6152
      "SMTPUTF8",                                                              // RFC 6531
      "ENHANCEDSTATUSCODES",                                                   // RFC 2034
      "CHUNKING",                                                              // RFC 3030
      "DSN",                                                                   // RFC 3461
      "DELIVERBY " + std::to_string(settings_.limits.min_deliver_by.count()),  // RFC 2852
      // RFC 6710 9: no priority-assignment policy name; the full -9..9 scale is kept.
      "MT-PRIORITY",
  };
  // RFC 3207 4.2: STARTTLS is not offered again once TLS is active.
  if (settings_.starttls_offered && !tls_) r.lines.push_back("STARTTLS");
  // RFC 4954 14 and RFC 8314 4.1: passwords in the clear only ever travel inside TLS, so
  // AUTH is not even offered before it; AUTH is for submission, not for the MX (port 25).
  if (settings_.submission && tls_) r.lines.push_back("AUTH PLAIN LOGIN");
  return answer(std::move(r));
}

SessionStep ServerSession::handle_mail(const Command& command) {
  // RFC 6531 3.4: a UTF-8 address needs the SMTPUTF8 parameter.
  if (command.path.non_ascii && !command.mail.smtputf8) {
    return protocol_error(make_reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8"));
  }
  // RFC 1870 6.1: a declared size over the limit is refused at MAIL, before any data.
  if (command.mail.size && *command.mail.size > settings_.limits.max_message_size) {
    return answer(make_reply(552, "5.3.4", "Message size exceeds fixed maximum message size"));
  }
  // RFC 2852 4.1: a BY time with mode R below the announced minimum is refused; herald
  // answers as for any unacceptable parameter value (501 5.5.4, RFC 3463 "invalid command
  // arguments").
  if (command.mail.by && command.mail.by->mode == DeliverByMode::return_if_late &&
      command.mail.by->seconds < settings_.limits.min_deliver_by.count()) {
    return protocol_error(make_reply(501, "5.5.4",
                                     fmt::format("BY time below the minimum of {} seconds",
                                                 settings_.limits.min_deliver_by.count())));
  }
  if (settings_.submission) {
    // RFC 6409 4.3 and RFC 4954 6: submission takes mail from authenticated users only.
    if (authenticated_as_.empty()) {
      return protocol_error(make_reply(530, "5.7.0", "Authentication required"));
    }
    // RFC 6409 8.1: the submission server may check that the sender is the user's own. A
    // null sender is for bounces, which users do not send.
    if (command.path.is_null() ||
        !directory_.may_send_as(authenticated_as_, command.path.address())) {
      return protocol_error(
          make_reply(553, "5.7.1", "Sender address not owned by <" + authenticated_as_ + ">"));
    }
  }
  transaction_ = Transaction{};
  transaction_.reverse_path = command.path;
  transaction_.parameters = command.mail;
  state_ = State::in_mail;
  if (verifies_sender()) return SessionStep{std::nullopt, SessionStep::Next::check_sender, 0};
  return answer(make_reply(250, "2.1.0", "Sender OK"));
}

// RFC 7208 2.4: the MAIL FROM identity, or postmaster@HELO for the null reverse-path.
SpfRequest ServerSession::sender_to_check() const {
  SpfRequest request;
  request.client_ip = peer_.ip;
  request.mail_from = transaction_.reverse_path.address();
  request.helo = helo_;
  request.receiver = settings_.hostname;
  return request;
}

SessionStep ServerSession::on_sender_checked(SpfOutcome outcome) {
  if (std::optional<Reply> refusal = spf_refusal(outcome, settings_.policy)) {
    start_over(State::greeted);
    return answer(std::move(*refusal));
  }
  transaction_.spf = SpfCheck{sender_to_check(), std::move(outcome)};
  return answer(make_reply(250, "2.1.0", "Sender OK"));
}

SessionStep ServerSession::handle_rcpt(const Command& command) {
  transaction_.rcpt_seen = true;
  const std::string address = command.path.address();
  // RFC 5321 4.5.3.1.8: past the limit, 452 asks the client to send the rest later.
  if (transaction_.recipients.size() >= settings_.limits.max_recipients) {
    return answer(make_reply(452, "4.5.3", "Too many recipients"));
  }
  if (command.path.non_ascii && !transaction_.parameters.smtputf8) {
    return protocol_error(make_reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8"));
  }
  if (settings_.srs && settings_.srs->claims(address)) return return_to_sender(command);
  // RFC 5321 4.1.1.3: a bare <Postmaster> is this server's postmaster.
  const bool bare_postmaster = command.path.domain.empty();
  const std::string local = bare_postmaster ? settings_.postmaster : ascii_lower(address);
  const RecipientLookup found = directory_.lookup(local);
  switch (found.kind) {
    case RecipientLookup::Kind::unknown_user:
      return protocol_error(make_reply(550, "5.1.1", "<" + address + ">: no such user here"));
    case RecipientLookup::Kind::not_local:
      return relay_decision(command);
    case RecipientLookup::Kind::local:
      break;
  }
  return accept_targets(address, command.rcpt, local_targets(found, local));
}

// The mailboxes an address of ours reaches, and the remote addresses its alias forwards to:
// the postmaster set those up, so forwarding them is not relaying, whoever the client is.
std::vector<ServerSession::Target> ServerSession::local_targets(const RecipientLookup& found,
                                                                const std::string& alias) {
  std::vector<Target> targets;
  for (const Mailbox& mailbox : found.mailboxes) targets.push_back(Target{0, mailbox.address});
  for (const std::string& forward : found.forwards)
    targets.push_back(Target{0, forward, true, alias});
  return targets;
}

// A bounce to the SRS return path of a copy an alias forwarded (auth/srs.h) goes back to the
// original sender. Only addresses herald signed, and not too old, are taken: anyone can write
// the format, so anything else would make herald an open relay.
SessionStep ServerSession::return_to_sender(const Command& command) {
  const std::string address = command.path.address();
  const SrsReverse back = settings_.srs->reverse(address, clock_.now());
  switch (back.verdict) {
    case SrsReverse::Verdict::valid:
      break;
    case SrsReverse::Verdict::expired:
      return protocol_error(make_reply(
          550, "5.1.1", "<" + address + ">: this SRS address has expired; no bounce is returned"));
    case SrsReverse::Verdict::malformed:
    case SrsReverse::Verdict::bad_hash:
      return protocol_error(
          make_reply(550, "5.1.1", "<" + address + ">: not an SRS address this server signed"));
  }
  // The original sender gets no second SRS rewrite: the bounce keeps its own (null) sender.
  const RecipientLookup found = directory_.lookup(back.original);
  switch (found.kind) {
    case RecipientLookup::Kind::unknown_user:
      return protocol_error(
          make_reply(550, "5.1.1", "<" + address + ">: its original sender is no user here"));
    case RecipientLookup::Kind::not_local:
      return accept_targets(address, command.rcpt, {Target{0, back.original, true}});
    case RecipientLookup::Kind::local:
      break;
  }
  return accept_targets(address, command.rcpt, local_targets(found, ascii_lower(back.original)));
}

SessionStep ServerSession::accept_targets(const std::string& address,
                                          const RcptParameters& parameters,
                                          std::vector<Target> targets) {
  const size_t index = transaction_.recipients.size();
  transaction_.recipients.push_back(Recipient{address, parameters});
  for (Target& target : targets) {
    const bool seen =
        std::any_of(transaction_.targets.begin(), transaction_.targets.end(),
                    [&](const Target& known) { return known.address == target.address; });
    if (seen) continue;
    target.recipient = index;
    transaction_.targets.push_back(std::move(target));
  }
  return answer(make_reply(250, "2.1.5", "Recipient OK"));
}

SessionStep ServerSession::handle_data(const Command&) {
  if (!transaction_.rcpt_seen) return protocol_error(make_reply(503, "5.5.1", "Send RCPT first"));
  // RFC 2920 3.1: with every RCPT refused, DATA fails and the client sends no content.
  if (transaction_.recipients.empty()) {
    return answer(make_reply(554, "5.5.1", "No valid recipients"));
  }
  transaction_.reader.emplace(settings_.limits.max_message_size, settings_.limits.max_data_line);
  // RFC 2034 3: no enhanced code on 3xx replies.
  return answer(make_reply(354, "", "End data with <CR><LF>.<CR><LF>"),
                SessionStep::Next::read_data);
}

SessionStep ServerSession::handle_bdat(const Command& command) {
  chunk_is_last_ = command.last_chunk;
  // RFC 3030 2: the chunk follows the command unasked, so even a refused BDAT has its
  // octets read (and dropped) before the answer; otherwise they would be taken as commands.
  if (!transaction_.rcpt_seen) {
    chunk_refusal_ = make_reply(503, "5.5.1", "Send RCPT first");
  } else if (transaction_.recipients.empty()) {
    chunk_refusal_ = make_reply(554, "5.5.1", "No valid recipients");
  } else if (state_ == State::in_mail) {
    transaction_.reader.emplace(settings_.limits.max_message_size, settings_.limits.max_data_line);
    state_ = State::in_chunks;
  }
  return SessionStep{std::nullopt, SessionStep::Next::read_chunk, command.chunk_size};
}

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

SessionStep ServerSession::handle_starttls(const Command&) {
  if (tls_) return protocol_error(make_reply(503, "5.5.1", "TLS already active"));
  if (!settings_.starttls_offered) return answer(make_reply(454, "4.7.0", "TLS not available"));
  return answer(make_reply(220, "2.0.0", "Ready to start TLS"), SessionStep::Next::start_tls);
}

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
  return SessionStep{std::nullopt, SessionStep::Next::check_credentials, 0};
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

bool ServerSession::verifies_sender() const {
  return settings_.verify_senders && !may_relay();
}

// RFC 8601 5: results claiming to be this server's were removed when the content arrived;
// these go above everything, Received included, as the newest trace.
void ServerSession::add_authentication_results(const std::vector<AuthResult>& results) {
  accepted_.content.insert(0, authentication_results_field(settings_.hostname, results));
  accepted_.record.size = accepted_.content.size();
}

// RFC 5321 3.6.2 / RFC 6409 4.2: authenticated users relay, and so do clients of the networks
// the postmaster trusts (an open relay is what spammers look for); the rest are refused.
bool ServerSession::may_relay() const {
  return !authenticated_as_.empty() || trusted_network_;
}

// The one place that decides what happens to a recipient outside the local domains.
SessionStep ServerSession::relay_decision(const Command& command) {
  const std::string address = command.path.address();
  if (!may_relay()) {
    return protocol_error(make_reply(554, "5.7.1", "<" + address + ">: relaying denied"));
  }
  // RFC 5321 4.1.3 address literals bypass DNS; herald routes by domain only.
  if (command.path.domain.starts_with('[')) {
    return protocol_error(make_reply(
        553, "5.1.3", "<" + address + ">: relaying to address literals is not supported"));
  }
  // The domain's case carries no meaning (RFC 5321 2.4); the local part's belongs to the
  // receiving server and is kept as given.
  return accept_targets(
      address, command.rcpt,
      {Target{0, command.path.local_part + "@" + ascii_lower(command.path.domain), true}});
}

SessionStep ServerSession::handle_not_implemented(const Command&) {
  return protocol_error(make_reply(502, "5.5.1", "Command not implemented"));
}

// --- content -----------------------------------------------------------------------------

size_t ServerSession::on_data(std::string_view input) {
  return transaction_.reader->feed_data(input);
}

bool ServerSession::data_complete() const {
  return transaction_.reader && transaction_.reader->data_ended();
}

SessionStep ServerSession::on_data_end() {
  if (transaction_.reader->problem() != ContentProblem::none) {
    return refuse_content(transaction_.reader->problem());
  }
  return accept_content();
}

void ServerSession::on_chunk_data(std::string_view piece) {
  if (!chunk_refusal_) transaction_.reader->feed_chunk(piece);
}

SessionStep ServerSession::on_chunk_end() {
  if (chunk_refusal_) {
    Reply refusal = std::move(*chunk_refusal_);
    chunk_refusal_.reset();
    // 503 is the client's mistake; 554 "no valid recipients" follows from RCPT refusals
    // that were counted already.
    return refusal.code == 503 ? protocol_error(std::move(refusal)) : answer(std::move(refusal));
  }
  DataReader& reader = *transaction_.reader;
  if (chunk_is_last_) reader.end_chunks();
  // RFC 3030 2: a failed chunk ends the transaction; the client must start over.
  if (reader.problem() != ContentProblem::none) return refuse_content(reader.problem());
  if (!chunk_is_last_) {
    return answer(
        make_reply(250, "2.0.0", fmt::format("{} octets received", reader.content().size())));
  }
  return accept_content();
}

SessionStep ServerSession::refuse_content(ContentProblem problem) {
  start_over(State::greeted);
  switch (problem) {
    case ContentProblem::too_big:
      return answer(make_reply(552, "5.3.4", "Message size exceeds fixed maximum message size"));
    case ContentProblem::line_too_long:
      return answer(make_reply(554, "5.6.0",
                               fmt::format("Message has a line longer than {} octets; not accepted",
                                           settings_.limits.max_data_line)));
    case ContentProblem::bad_line_ending:
    case ContentProblem::none:
      break;
  }
  return answer(make_reply(
      554, "5.6.0", "Message contains bare CR, bare LF or NUL (RFC 5321 2.3.8); not accepted"));
}

// Builds the records of the message; the connection commits them and then reports back.
SessionStep ServerSession::accept_content() {
  const TimePoint now = clock_.now();
  AcceptedMessage m;
  m.record.id = new_message_id(now);
  m.record.received_at = now;

  Envelope& e = m.record.envelope;
  e.mail_from = transaction_.reverse_path.address();
  for (const Recipient& recipient : transaction_.recipients) {
    e.rcpt_to.push_back(recipient.address);
  }
  e.helo = helo_;
  e.peer_ip = peer_.ip;
  e.peer_port = peer_.port;
  e.listener = settings_.listener;
  e.authenticated_as = authenticated_as_;
  e.protocol = with_protocol();
  if (tls_) {
    e.tls_version = tls_->version;
    e.tls_cipher = tls_->cipher;
  }
  e.body_type = transaction_.parameters.body == BodyType::eight_bit_mime ? "8BITMIME" : "7BIT";
  e.smtputf8 = transaction_.parameters.smtputf8;

  const ReceivedFields received{
      .helo = helo_,
      .peer_ip = peer_.ip,
      .hostname = settings_.hostname,
      .protocol = e.protocol,
      .id = m.record.id,
      .tls_version = e.tls_version,
      .tls_cipher = e.tls_cipher,
      .single_recipient = e.rcpt_to.size() == 1 ? e.rcpt_to.front() : std::string(),
      .at = now,
  };
  // RFC 5321 4.4: the trace header goes at the top of the content, before all others.
  // RFC 8601 5: an Authentication-Results field naming this server that came with the
  // message is a forgery (or a loop); it goes before anyone can believe it.
  m.content = std::move(transaction_.reader->content());
  remove_own_authentication_results(m.content, settings_.hostname);
  m.content.insert(0, received_header(received));
  m.record.size = m.content.size();

  m.events.push_back(LedgerEvent{now,
                                 "received",
                                 "",
                                 {{"peer", peer_.ip},
                                  {"helo", helo_},
                                  {"tls", tls_ ? tls_->version + " " + tls_->cipher : "no"},
                                  {"size", std::to_string(m.record.size)},
                                  {"from", bracketed(transaction_.reverse_path)},
                                  {"listener", settings_.listener}}});
  if (!authenticated_as_.empty()) m.events.front().fields.emplace_back("auth", authenticated_as_);
  if (trusted_network_) m.events.front().fields.emplace_back("trusted_network", "yes");
  m.record.qos = message_qos(now, m.events.front());
  for (const Target& target : transaction_.targets) {
    const Recipient& recipient = transaction_.recipients[target.recipient];
    Delivery d;
    d.message_id = m.record.id;
    d.index = static_cast<uint32_t>(m.deliveries.size());
    d.recipient = recipient.address;
    d.mailbox = target.address;
    d.transport = target.remote ? "smtp" : "local";
    d.next_attempt = now;
    // RFC 3461 4.1, 4.2: every mailbox a RCPT expands to answers to that RCPT's request.
    d.notify = recipient.parameters.notify;
    d.original_recipient = recipient.parameters.original_recipient;
    LedgerEvent queued{now,
                       "queued",
                       recipient.address,
                       {{target.remote ? "relay_to" : "mailbox", target.address}}};
    if (!target.forwarded_by.empty()) forward_with_srs(target, now, d, queued);
    m.events.push_back(std::move(queued));
    m.deliveries.push_back(std::move(d));
  }
  accepted_ = std::move(m);
  if (!authenticated_as_.empty()) {
    // RFC 8601 2.7.4: what the submission server itself verified.
    add_authentication_results({{"auth", "pass", "", {{"smtp.auth", authenticated_as_}}}});
  }
  if (verifies_sender()) return SessionStep{std::nullopt, SessionStep::Next::check_message, 0};
  return SessionStep{std::nullopt, SessionStep::Next::commit, 0};
}

// A copy an alias forwards leaves with an SRS return path, so that the next hop's SPF check
// passes for this server and a bounce comes back here to be returned. The `queued` event says
// so (forwarded_by, return_path); a sender that cannot be rewritten is kept, and why is
// recorded there too.
void ServerSession::forward_with_srs(const Target& target, TimePoint now, Delivery& delivery,
                                     LedgerEvent& queued) const {
  const std::string sender = transaction_.reverse_path.address();
  const SrsForward srs = settings_.srs ? settings_.srs->forward(sender, now)
                                       : SrsForward{sender, false, "no SRS in this session"};
  if (srs.rewritten) delivery.envelope_sender = srs.return_path;
  queued.fields.emplace_back("forwarded_by", target.forwarded_by);
  queued.fields.emplace_back("return_path", srs.return_path);
  if (!srs.kept_because.empty()) queued.fields.emplace_back("srs_skipped", srs.kept_because);
}

SessionStep ServerSession::on_message_checked(const MessageAuthentication& auth) {
  const IdentityDecision decision = decide_identity(auth, settings_.policy);
  if (decision.action == IdentityDecision::Action::reject) {
    accepted_ = AcceptedMessage{};
    start_over(State::greeted);
    return answer(identity_refusal(decision));
  }
  const TimePoint now = accepted_.record.received_at;
  std::vector<LedgerEvent>& events = accepted_.events;
  // After `received`, before the `queued` events: what was checked comes first.
  auto next =
      events.insert(events.begin() + 1, LedgerEvent{now, "auth", "", auth_event_fields(auth)});
  if (decision.action == IdentityDecision::Action::quarantine) {
    // A header the recipient's filters (Sieve, the mail client) act on; nothing is dropped.
    accepted_.content.insert(0, header_field("X-Herald-Quarantine", decision.reason));
    events.insert(next + 1, LedgerEvent{now, "quarantined", "", {{"reason", decision.reason}}});
  }
  const std::vector<AuthResult> results = authentication_results(auth);
  add_authentication_results(results);
  accepted_.record.envelope.sender_verified = verifies_envelope_sender(auth);
  // RFC 8617 5.1: a forwarder vouches for what it found before the next hop's checks, which
  // the forwarding itself breaks (SPF at least), can no longer see it.
  const bool forwarded = std::any_of(transaction_.targets.begin(), transaction_.targets.end(),
                                     [](const Target& t) { return !t.forwarded_by.empty(); });
  if (settings_.arc_sealing && forwarded) {
    seal_request_ = ArcSealRequest{authentication_results_payload(results), auth.arc.result};
    return SessionStep{std::nullopt, SessionStep::Next::seal_message, 0};
  }
  return SessionStep{std::nullopt, SessionStep::Next::commit, 0};
}

SessionStep ServerSession::on_message_sealed(std::string fields) {
  accepted_.content.insert(0, fields);
  accepted_.record.size = accepted_.content.size();
  accepted_.events.at(1).fields.emplace_back("arc_sealed", "yes");  // the `auth` event
  seal_request_ = ArcSealRequest{};
  return SessionStep{std::nullopt, SessionStep::Next::commit, 0};
}

SessionStep ServerSession::on_seal_refused(std::string reason) {
  accepted_.events.at(1).fields.emplace_back("arc_seal_skipped", std::move(reason));
  seal_request_ = ArcSealRequest{};
  return SessionStep{std::nullopt, SessionStep::Next::commit, 0};
}

// The QoS the MAIL parameters asked for. RFC 6710 4.1 lets a server lower a priority it does
// not trust: herald honours MT-PRIORITY from authenticated users and trusted networks only,
// and otherwise keeps 0 and says so on the `received` event.
Qos ServerSession::message_qos(TimePoint arrival, LedgerEvent& received) const {
  const MailParameters& p = transaction_.parameters;
  Qos qos;
  qos.ret = p.ret;
  qos.envid = p.envid;
  if (p.by) {
    // RFC 2852 4: the deadline counts from the time the message arrived here.
    qos.deliver_by = arrival + std::chrono::seconds(p.by->seconds);
    qos.deliver_by_mode = p.by->mode;
    qos.deliver_by_trace = p.by->trace;
  }
  if (p.priority && *p.priority != 0) {
    if (!may_relay()) {
      received.fields.emplace_back(
          "priority_reset",
          fmt::format("from {}: sender neither authenticated nor trusted", *p.priority));
    } else {
      qos.priority = *p.priority;
      received.fields.emplace_back("priority", std::to_string(qos.priority));
    }
  }
  return qos;
}

SessionStep ServerSession::on_commit_succeeded() {
  const std::string id = accepted_.record.id;
  ++messages_accepted_;
  accepted_ = AcceptedMessage{};
  start_over(State::greeted);
  return answer(make_reply(250, "2.0.0", "queued as " + id));
}

SessionStep ServerSession::on_commit_failed() {
  accepted_ = AcceptedMessage{};
  start_over(State::greeted);
  return answer(make_reply(451, "4.3.0", "Temporary failure storing the message, try again later"));
}

void ServerSession::on_tls_started(TlsInfo tls) {
  tls_ = std::move(tls);
  // RFC 3207 4.2: forget everything the client said before the handshake.
  start_over(State::fresh);
  helo_.clear();
  extended_ = false;
}

// --- errors and limits -------------------------------------------------------------------

Reply ServerSession::timeout_reply() const {
  return make_reply(421, "4.4.2", settings_.hostname + " timeout, closing connection");
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

void ServerSession::start_over(State state) {
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
