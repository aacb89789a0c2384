#include "smtp/client_session.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <stdexcept>
#include <utility>

namespace herald {
namespace {

using Outcome = AttemptResult::Outcome;

int reply_class(const Reply& reply) {
  return reply.code / 100;
}

bool is_failure(const Reply& reply) {
  return reply_class(reply) == 4 || reply_class(reply) == 5;
}

Outcome failure_outcome(const Reply& reply) {
  return reply_class(reply) == 5 ? Outcome::permanent : Outcome::temporary;
}

// The reply on one line, for the ledger: "550 5.1.1 no such user".
std::string one_line(const Reply& reply) {
  std::string text = std::to_string(reply.code);
  if (!reply.enhanced.empty()) text += " " + reply.enhanced;
  for (const std::string& line : reply.lines) {
    if (!line.empty()) text += " " + line;
  }
  return text;
}

std::string upper(std::string_view text) {
  std::string result(text);
  for (char& c : result) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return result;
}

bool is_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// RFC 3461 4: xtext writes "+", "=" and octets outside "!".."~" as "+" and two hex digits.
std::string xtext(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string result;
  for (const char c : text) {
    const auto octet = static_cast<unsigned char>(c);
    if (octet < '!' || octet > '~' || c == '+' || c == '=') {
      result += '+';
      result += kHex[octet >> 4];
      result += kHex[octet & 0x0f];
    } else {
      result += c;
    }
  }
  return result;
}

std::string notify_parameter(const NotifyRequest& notify) {
  if (!notify.success && !notify.failure && !notify.delay) return " NOTIFY=NEVER";
  std::string value;
  if (notify.success) value += ",SUCCESS";
  if (notify.failure) value += ",FAILURE";
  if (notify.delay) value += ",DELAY";
  return " NOTIFY=" + value.substr(1);
}

// RFC 3461 4.2: ORCPT=addr-type;xtext(address); the type is kept as given.
std::string orcpt_parameter(std::string_view original) {
  const size_t semicolon = original.find(';');
  if (semicolon == std::string_view::npos) return " ORCPT=rfc822;" + xtext(original);
  return " ORCPT=" + std::string(original.substr(0, semicolon)) + ";" +
         xtext(original.substr(semicolon + 1));
}

}  // namespace

PeerExtensions parse_ehlo_keywords(const Reply& ehlo_reply) {
  PeerExtensions extensions;
  for (size_t i = 1; i < ehlo_reply.lines.size(); ++i) {
    const std::string line = upper(ehlo_reply.lines[i]);
    const std::string_view keyword = std::string_view(line).substr(0, line.find(' '));
    if (keyword == "PIPELINING") extensions.pipelining = true;
    if (keyword == "8BITMIME") extensions.eight_bit_mime = true;
    if (keyword == "SMTPUTF8") extensions.smtputf8 = true;
    if (keyword == "CHUNKING") extensions.chunking = true;
    if (keyword == "STARTTLS") extensions.starttls = true;
    if (keyword == "DSN") extensions.dsn = true;
    if (keyword == "ENHANCEDSTATUSCODES") extensions.enhanced_status_codes = true;
    if (keyword == "SIZE") {
      // RFC 1870 4: "SIZE" alone or "SIZE 0" announce no fixed limit.
      uint64_t limit = 0;
      if (keyword.size() < line.size()) {
        const char* first = line.data() + keyword.size() + 1;
        const char* last = line.data() + line.size();
        if (std::from_chars(first, last, limit).ptr != last) limit = 0;
      }
      extensions.size = limit;
    }
  }
  return extensions;
}

ClientSession::ClientSession(ClientSettings settings)
    : settings_(std::move(settings)), tls_active_(settings_.tls_active) {}

ClientStep ClientSession::on_received(std::string_view bytes) {
  ClientStep step;
  parser_.feed(bytes);
  handle_replies(step);
  return step;
}

void ClientSession::handle_replies(ClientStep& step) {
  // Several replies may come at once (PIPELINING); each is handled in order, and the step
  // says what the last one leaves the connection to do. A reply that asks for content stops
  // the reading until the content is sent; what came after it is read then.
  while (state_ != State::closed && step.next != ClientStep::Next::start_tls &&
         step.next != ClientStep::Next::send_content) {
    std::optional<Reply> reply = parser_.next();
    if (!reply) break;
    ++replies_read_;
    on_reply(*reply, step);
  }
  if (state_ != State::closed && step.next != ClientStep::Next::start_tls &&
      step.next != ClientStep::Next::send_content && parser_.error() != ReplyError::none) {
    give_up("4.4.2 protocol violation: " + std::string(to_string(parser_.error())), false, step);
  }
}

ClientStep ClientSession::on_tls_started() {
  ClientStep step;
  tls_active_ = true;
  extensions_ = PeerExtensions{};
  parser_.set_enhanced_status_codes(false);
  state_ = State::ehlo;
  step.output = "EHLO " + settings_.helo_name + "\r\n";
  return step;
}

ClientStep ClientSession::on_connection_lost(std::string_view reason) {
  ClientStep step;
  if (state_ != State::closed)
    give_up("4.4.2 connection lost: " + std::string(reason), false, step);
  step.next = ClientStep::Next::close;
  return step;
}

ClientStep ClientSession::on_deadline(std::string_view reason) {
  ClientStep step;
  if (state_ != State::closed) give_up("4.4.2 " + std::string(reason), false, step);
  step.next = ClientStep::Next::close;
  return step;
}

ClientWait ClientSession::waiting_for() const {
  switch (state_) {
    case State::greeting:
      return ClientWait::greeting;
    case State::transaction:
      if (awaiting_.empty()) return ClientWait::command;
      switch (awaiting_.front().expect) {
        case Expect::mail:
          return ClientWait::mail;
        case Expect::rcpt:
          return ClientWait::rcpt;
        case Expect::data:
          return ClientWait::data_init;
      }
      return ClientWait::command;
    case State::data_end:
      return ClientWait::data_end;
    case State::chunk:
      return last_chunk_sent_ ? ClientWait::data_end : ClientWait::chunk;
    default:
      return ClientWait::command;
  }
}

ClientStep ClientSession::send(const OutboundMessage& message) {
  if (state_ != State::ready) throw std::logic_error("ClientSession::send while not ready");
  ClientStep step;
  content_size_ = message.content_size;
  wants_content_ = false;
  chunk_rest_.clear();
  piece_was_last_ = false;
  last_chunk_sent_ = false;
  recipients_.assign(message.recipients.size(), RecipientState::open);
  outcomes_.assign(message.recipients.size(), AttemptResult{});
  if (const std::optional<std::string> reason = refusal(message); reason || recipients_.empty()) {
    if (reason) finish_open(Outcome::permanent, *reason);
    finish_message(step);
    return step;
  }
  state_ = State::transaction;
  unsent_.push_back({Expect::mail, 0, mail_command(message)});
  for (size_t i = 0; i < message.recipients.size(); ++i) {
    unsent_.push_back({Expect::rcpt, i, rcpt_command(message.recipients[i])});
  }
  // RFC 3030 2: BDAT goes after the RCPT replies, so that content is never sent for nothing.
  if (!extensions_.chunking) unsent_.push_back({Expect::data, 0, "DATA\r\n"});
  continue_transaction(step);
  return step;
}

ClientStep ClientSession::quit() {
  if (state_ != State::ready) throw std::logic_error("ClientSession::quit while not ready");
  ClientStep step;
  state_ = State::quit;
  step.output = "QUIT\r\n";
  return step;
}

// Why the message cannot go to this peer at all, as the permanent reply to record.
std::optional<std::string> ClientSession::refusal(const OutboundMessage& message) const {
  // RFC 1870 6.1: a message larger than the server's fixed limit is not sent.
  if (extensions_.size && *extensions_.size > 0 && content_size_ > *extensions_.size) {
    return "5.3.4 message size " + std::to_string(content_size_) +
           " exceeds the peer's fixed maximum of " + std::to_string(*extensions_.size) +
           " octets (RFC 1870)";
  }
  bool needs_smtputf8 = message.smtputf8 || !is_ascii(message.reverse_path);
  for (const OutboundRecipient& recipient : message.recipients) {
    if (!is_ascii(recipient.address)) needs_smtputf8 = true;
  }
  // RFC 6531 3.4: without SMTPUTF8 at the peer, such a message cannot be delivered there.
  if (needs_smtputf8 && !extensions_.smtputf8) {
    return "5.6.7 message needs SMTPUTF8 and the peer does not offer it (RFC 6531 3.4)";
  }
  // RFC 6152 3: 8bit content only goes to a server that offers 8BITMIME; herald does not
  // downgrade.
  if (message.body == BodyType::eight_bit_mime && !extensions_.eight_bit_mime) {
    return "5.6.3 message has 8bit content and the peer does not offer 8BITMIME (RFC 6152)";
  }
  return std::nullopt;
}

std::string ClientSession::mail_command(const OutboundMessage& message) const {
  std::string line = "MAIL FROM:<" + message.reverse_path + ">";
  if (extensions_.size) line += " SIZE=" + std::to_string(content_size_);  // RFC 1870 6
  if (message.body == BodyType::eight_bit_mime) line += " BODY=8BITMIME";  // RFC 6152 2
  if (extensions_.smtputf8 && (message.smtputf8 || !is_ascii(message.reverse_path) ||
                               std::any_of(message.recipients.begin(), message.recipients.end(),
                                           [](const OutboundRecipient& recipient) {
                                             return !is_ascii(recipient.address);
                                           }))) {
    line += " SMTPUTF8";  // RFC 6531 3.4
  }
  if (extensions_.dsn) {  // RFC 3461 4.3 and 4.4: only to a server that offers DSN
    if (message.ret == DsnReturn::full) line += " RET=FULL";
    if (message.ret == DsnReturn::headers) line += " RET=HDRS";
    if (!message.envid.empty()) line += " ENVID=" + xtext(message.envid);
  }
  return line + "\r\n";
}

std::string ClientSession::rcpt_command(const OutboundRecipient& recipient) const {
  std::string line = "RCPT TO:<" + recipient.address + ">";
  if (extensions_.dsn) {  // RFC 3461 4.1 and 4.2
    if (recipient.notify.given) line += notify_parameter(recipient.notify);
    if (!recipient.original_recipient.empty())
      line += orcpt_parameter(recipient.original_recipient);
  }
  return line + "\r\n";
}

void ClientSession::on_reply(const Reply& reply, ClientStep& step) {
  // RFC 5321 3.8: 421 may come at any time; the server is closing the connection.
  if (reply.code == 421 && state_ != State::quit) {
    give_up(one_line(reply), false, step);
    return;
  }
  switch (state_) {
    case State::greeting:
      on_greeting(reply, step);
      return;
    case State::ehlo:
      on_ehlo(reply, step);
      return;
    case State::helo:
      on_helo(reply, step);
      return;
    case State::starttls:
      on_starttls(reply, step);
      return;
    case State::transaction:
      on_transaction_reply(reply, step);
      return;
    case State::data_end:
      on_data_end(reply, step);
      return;
    case State::chunk:
      on_chunk_reply(reply, step);
      return;
    case State::rset:
      on_rset(reply, step);
      return;
    case State::quit:
      state_ = State::closed;
      step.next = ClientStep::Next::close;
      return;
    case State::ready:
    case State::data:
    case State::closed:
      break;
  }
  give_up("4.4.2 protocol violation: unexpected reply " + one_line(reply), false, step);
}

void ClientSession::on_greeting(const Reply& reply, ClientStep& step) {
  if (reply.code == 220) {
    state_ = State::ehlo;
    step.output += "EHLO " + settings_.helo_name + "\r\n";
  } else if (is_failure(reply)) {
    give_up("greeting: " + one_line(reply), true, step);  // RFC 5321 3.1: QUIT after a 554
  } else {
    give_up("4.4.2 protocol violation: greeting " + one_line(reply), false, step);
  }
}

void ClientSession::on_ehlo(const Reply& reply, ClientStep& step) {
  if (reply.code == 250) {
    extensions_ = parse_ehlo_keywords(reply);
    parser_.set_enhanced_status_codes(extensions_.enhanced_status_codes);
    if (settings_.opportunistic_tls && extensions_.starttls && !tls_active_) {
      state_ = State::starttls;
      step.output += "STARTTLS\r\n";
    } else {
      become_ready(step);
    }
  } else if (reply_class(reply) == 5) {
    // RFC 5321 4.1.4: a server that does not know EHLO still knows HELO.
    state_ = State::helo;
    step.output += "HELO " + settings_.helo_name + "\r\n";
  } else if (is_failure(reply)) {
    give_up("EHLO: " + one_line(reply), true, step);
  } else {
    give_up("4.4.2 protocol violation: EHLO " + one_line(reply), false, step);
  }
}

void ClientSession::on_helo(const Reply& reply, ClientStep& step) {
  if (reply.code == 250) {
    extensions_ = PeerExtensions{};
    become_ready(step);
  } else if (is_failure(reply)) {
    give_up("HELO: " + one_line(reply), true, step);
  } else {
    give_up("4.4.2 protocol violation: HELO " + one_line(reply), false, step);
  }
}

void ClientSession::on_starttls(const Reply& reply, ClientStep& step) {
  if (reply.code == 220) {
    // RFC 3207 4.2 (and CVE-2011-0411 in reverse): anything the server sent after the 220
    // and before the handshake is not to be trusted.
    parser_.discard_buffered();
    step.next = ClientStep::Next::start_tls;
  } else if (is_failure(reply)) {
    become_ready(step);  // opportunistic: a refused STARTTLS leaves the session in clear text
  } else {
    give_up("4.4.2 protocol violation: STARTTLS " + one_line(reply), false, step);
  }
}

// A reply to MAIL, RCPT or DATA, matched with the oldest command sent (RFC 2920 3.2: the
// server answers pipelined commands in order).
void ClientSession::on_transaction_reply(const Reply& reply, ClientStep& step) {
  if (awaiting_.empty()) {
    give_up("4.4.2 protocol violation: unexpected reply " + one_line(reply), false, step);
    return;
  }
  const PendingCommand command = std::move(awaiting_.front());
  awaiting_.pop_front();
  if (command.expect == Expect::data && reply.code == 354) {
    start_content(step);
    return;
  }
  if (reply_class(reply) != 2 && !is_failure(reply)) {
    give_up("4.4.2 protocol violation: unexpected reply " + one_line(reply), false, step);
    return;
  }
  if (command.expect == Expect::mail && is_failure(reply)) {
    finish_open(failure_outcome(reply), one_line(reply));  // RFC 5321 3.3: MAIL for all
    if (!extensions_.pipelining) unsent_.clear();
  } else if (command.expect == Expect::rcpt &&
             recipients_[command.recipient] == RecipientState::open) {
    if (reply_class(reply) == 2) {
      recipients_[command.recipient] = RecipientState::accepted;
    } else {
      finish(command.recipient, failure_outcome(reply), one_line(reply));
    }
  } else if (command.expect == Expect::data) {
    if (reply_class(reply) == 2) {
      give_up("4.4.2 protocol violation: DATA answered " + one_line(reply), false, step);
      return;
    }
    finish_accepted(reply);
  }
  continue_transaction(step);
}

// Sends what the transaction needs next once every reply so far has been read.
void ClientSession::continue_transaction(ClientStep& step) {
  if (!awaiting_.empty()) return;
  const bool rcpts_pending =
      std::any_of(unsent_.begin(), unsent_.end(),
                  [](const PendingCommand& c) { return c.expect == Expect::rcpt; });
  if (!any_open() || (!rcpts_pending && !any_accepted())) {
    // RFC 5321 4.1.1.5: no recipient left to carry the message; end the transaction.
    unsent_.clear();
    send_rset(step);
    return;
  }
  if (unsent_.empty()) {
    state_ = State::chunk;
    ask_for_content(step);
    return;
  }
  // RFC 2920 3.1: with PIPELINING the whole group (MAIL, every RCPT, DATA) goes at once.
  do {
    step.output += unsent_.front().line;
    awaiting_.push_back(std::move(unsent_.front()));
    unsent_.pop_front();
  } while (extensions_.pipelining && !unsent_.empty());
}

void ClientSession::on_data_end(const Reply& reply, ClientStep& step) {
  if (reply_class(reply) != 2 && !is_failure(reply)) {
    give_up("4.4.2 protocol violation: end of data answered " + one_line(reply), false, step);
    return;
  }
  // RFC 5321 4.2.5: the reply to the end of data is every accepted recipient's outcome.
  finish_accepted(reply);
  finish_message(step);
}

void ClientSession::on_chunk_reply(const Reply& reply, ClientStep& step) {
  if (reply_class(reply) == 2 && !last_chunk_sent_) {
    if (chunk_rest_.empty() && !piece_was_last_) {
      ask_for_content(step);
    } else {
      const std::string rest = std::move(chunk_rest_);
      send_chunk(rest, piece_was_last_, step);
    }
  } else if (reply_class(reply) == 2) {
    finish_accepted(reply);
    finish_message(step);
  } else if (is_failure(reply)) {
    // RFC 3030 2: a refused chunk refuses the message; RSET clears what the server holds.
    finish_accepted(reply);
    send_rset(step);
  } else {
    give_up("4.4.2 protocol violation: BDAT answered " + one_line(reply), false, step);
  }
}

void ClientSession::send_rset(ClientStep& step) {
  state_ = State::rset;
  step.output += "RSET\r\n";
}

void ClientSession::on_rset(const Reply& reply, ClientStep& step) {
  if (reply_class(reply) == 2) {
    finish_message(step);
  } else {
    give_up("RSET: " + one_line(reply), true, step);
  }
}

void ClientSession::finish_message(ClientStep& step) {
  awaiting_.clear();
  unsent_.clear();
  chunk_rest_ = std::string();
  step.message_finished = true;
  become_ready(step);
}

void ClientSession::become_ready(ClientStep& step) {
  state_ = State::ready;
  step.next = ClientStep::Next::ready;
}

// The connection cannot go on: every open recipient is a temporary failure with `reason` as
// its reply (a broken connection is never a reason to bounce).
void ClientSession::give_up(std::string reason, bool send_quit, ClientStep& step) {
  const bool in_message = any_open();
  wants_content_ = false;
  chunk_rest_ = std::string();
  finish_open(Outcome::temporary, reason);
  if (in_message) step.message_finished = true;
  failure_ = std::move(reason);
  if (send_quit) step.output += "QUIT\r\n";
  state_ = State::closed;
  step.next = ClientStep::Next::close;
}

void ClientSession::finish(size_t recipient, Outcome outcome, std::string reply) {
  recipients_[recipient] = RecipientState::finished;
  outcomes_[recipient].outcome = outcome;
  outcomes_[recipient].reply = std::move(reply);
}

void ClientSession::finish_open(Outcome outcome, const std::string& reply) {
  for (size_t i = 0; i < recipients_.size(); ++i) {
    if (recipients_[i] != RecipientState::finished) finish(i, outcome, reply);
  }
}

void ClientSession::finish_accepted(const Reply& reply) {
  const Outcome outcome = reply_class(reply) == 2 ? Outcome::delivered : failure_outcome(reply);
  for (size_t i = 0; i < recipients_.size(); ++i) {
    if (recipients_[i] == RecipientState::accepted) finish(i, outcome, one_line(reply));
  }
}

bool ClientSession::any_open() const {
  return std::any_of(recipients_.begin(), recipients_.end(),
                     [](RecipientState state) { return state != RecipientState::finished; });
}

bool ClientSession::any_accepted() const {
  return std::any_of(recipients_.begin(), recipients_.end(),
                     [](RecipientState state) { return state == RecipientState::accepted; });
}

}  // namespace herald
