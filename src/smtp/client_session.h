// The client side of an outbound SMTP connection (RFC 5321 with PIPELINING, SIZE, 8BITMIME,
// SMTPUTF8, CHUNKING, STARTTLS, DSN and ENHANCEDSTATUSCODES) as a state machine without I/O:
// it takes the bytes the server sends and says what to send back and what the connection
// must do next. One connection may carry several messages, one after the other; each ends
// with an outcome per recipient (delivered, temporary or permanent, with the reply that
// decided it). The socket, TLS and the queue are the caller's business, and so is reading the
// content: the session asks for it a piece at a time and never holds it whole.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "queue/transport.h"
#include "smtp/command.h"
#include "smtp/reply.h"
#include "smtp/reply_parser.h"
#include "store/records.h"

namespace herald {

// What the server's EHLO reply offered (RFC 5321 4.1.1.1, one keyword per line).
struct PeerExtensions {
  bool pipelining = false;             // RFC 2920
  std::optional<uint64_t> size;        // RFC 1870; 0 means no fixed limit
  bool eight_bit_mime = false;         // RFC 6152
  bool smtputf8 = false;               // RFC 6531
  bool chunking = false;               // RFC 3030
  bool starttls = false;               // RFC 3207
  bool dsn = false;                    // RFC 3461
  bool enhanced_status_codes = false;  // RFC 2034
};

// Reads the keywords from the lines after the first of a 250 EHLO reply; keywords are
// case-insensitive (RFC 5321 4.1.1.1) and unknown ones are ignored.
PeerExtensions parse_ehlo_keywords(const Reply& ehlo_reply);

// RFC 5321 4.5.2: a line of content that starts with "." gets one more "." in front. Lines
// end at LF (a CRLF ends with one too). Takes the content in pieces of any size and
// remembers where the last one left off, so that a line beginning a piece, or a CRLF split
// between two, reads as in the whole content. Adds no terminating "." line.
class DotStuffer {
 public:
  // Appends `piece`, stuffed, to `out`.
  void stuff(std::string_view piece, std::string& out);
  // RFC 5321 4.1.1.4: the content so far is empty or ends in CRLF, so that "." CRLF may
  // follow it as the end of data.
  bool at_line_end() const { return !any_ || (before_last_ == '\r' && last_ == '\n'); }

 private:
  bool line_start_ = true;
  bool any_ = false;
  char before_last_ = 0;
  char last_ = 0;
};

struct OutboundRecipient {
  std::string address;             // without angle brackets
  NotifyRequest notify;            // RFC 3461 4.1, sent only when the peer offers DSN
  std::string original_recipient;  // RFC 3461 4.2 "addr-type;address", xtext-decoded; or ""
};

struct OutboundMessage {
  std::string reverse_path;  // without angle brackets; "" for the null path <>
  std::vector<OutboundRecipient> recipients;
  // Octets of the content as stored (header and body, CRLF line endings), for SIZE=
  // (RFC 1870). The content itself is not the session's: the connection hands it over a
  // piece at a time (ClientStep::Next::send_content).
  uint64_t content_size = 0;
  BodyType body = BodyType::seven_bit;  // 8BITMIME content (RFC 6152)
  bool smtputf8 = false;                // needs SMTPUTF8 (RFC 6531); non-ASCII addresses imply it
  DsnReturn ret = DsnReturn::unspecified;  // RFC 3461 4.3, sent only when the peer offers DSN
  std::string envid;                       // RFC 3461 4.4, xtext-decoded; or ""
};

struct ClientSettings {
  std::string helo_name;  // herald's own name, sent in EHLO/HELO
  // RFC 3207 opportunistic TLS: STARTTLS whenever the peer offers it. A refused STARTTLS
  // leaves the connection in clear text.
  bool opportunistic_tls = true;
  bool tls_active = false;  // TLS from the first byte (RFC 8314): no STARTTLS
  // The most octets of one BDAT chunk (RFC 3030). Each piece of content handed over goes in
  // chunks of its own (one, unless the piece is larger than this); a chunk never waits for
  // the next piece.
  uint64_t chunk_size = 1u << 20;
};

// What the connection does after writing `output` (which may be empty).
struct ClientStep {
  enum class Next {
    read_reply,  // read from the server and feed on_received()
    start_tls,   // discard unread input, handshake, then on_tls_started()
    ready,       // idle: send() the next message, or quit()
    close,       // close the connection; failure() says why when it was not a QUIT
    // Hand the next piece of the message's content to on_content(): the header section
    // first, then the body's pieces in order (any cut of the content into pieces will do).
    send_content,
  };
  std::string output;
  Next next = Next::read_reply;
  bool message_finished = false;  // outcomes() now holds one result per recipient
};

// What a session waits for once a step's output is written and its next is read_reply.
// RFC 5321 4.5.3.2 gives each of these a timeout of its own (the transport's to enforce).
enum class ClientWait {
  greeting,   // 4.5.3.2.1, the 220
  command,    // EHLO, HELO, STARTTLS, RSET, QUIT
  mail,       // 4.5.3.2.2, the reply to MAIL
  rcpt,       // 4.5.3.2.3, a reply to RCPT
  data_init,  // 4.5.3.2.4, the 354 to DATA
  chunk,      // the reply to a BDAT chunk that is not the last (RFC 3030 2)
  data_end,   // 4.5.3.2.6, the reply to the final dot or to BDAT LAST
};

// Not thread-safe: one session belongs to one connection.
class ClientSession {
 public:
  explicit ClientSession(ClientSettings settings);

  // Bytes from the server, in pieces of any size; the first step waits for the greeting.
  ClientStep on_received(std::string_view bytes);

  // RFC 3207 4.2: after the handshake the client knows nothing of the server; EHLO again.
  ClientStep on_tls_started();

  // The connection broke or timed out: every open recipient is a temporary failure.
  ClientStep on_connection_lost(std::string_view reason);

  // The next piece of the content, after a step whose next is `send_content`; `last` when
  // no content follows it. The step writes the piece as the transaction carries it: with
  // DATA dot-stuffed (RFC 5321 4.5.2), ending in CRLF "." CRLF after the last; with CHUNKING
  // as BDAT chunks, waiting for each chunk's reply (RFC 3030 2). The session keeps no more
  // of a piece than what a chunk_size smaller than the piece leaves for the next chunk.
  // std::logic_error when no content was asked for.
  ClientStep on_content(std::string_view piece, bool last);

  // The content cannot be read (a body piece is missing or unreadable): the connection must
  // close without ending the data, so that the server discards what it got (a message is
  // taken only at the end of data indicator, RFC 5321 4.1.1.4, or BDAT LAST, RFC 3030 2),
  // and every open recipient is a temporary failure whose reply is "4.3.0 " + `reason`.
  ClientStep on_content_unavailable(std::string_view reason);

  // Starts a message; valid only after a step whose next is `ready`. When the message cannot
  // go to this peer at all (too big, needs an extension the peer lacks) nothing is sent and
  // the step finishes it at once. Throws std::logic_error when not ready (a caller's bug).
  ClientStep send(const OutboundMessage& message);

  // Ends the connection politely; valid only after a `ready` step (std::logic_error otherwise).
  ClientStep quit();

  // The last message's results, in the order of its recipients; each reply is one line.
  const std::vector<AttemptResult>& outcomes() const { return outcomes_; }
  const PeerExtensions& extensions() const { return extensions_; }
  bool tls_active() const { return tls_active_; }
  // The content is being sent or the server is deciding on it: the last step's output
  // carries content (RFC 5321 4.5.3.2.5 bounds each block written of it) and the reply
  // awaited is the one to the end of data or to a BDAT chunk.
  bool in_content() const {
    return state_ == State::data || state_ == State::data_end || state_ == State::chunk;
  }
  // Why the connection ended, when it did not end with QUIT; empty otherwise.
  const std::string& failure() const { return failure_; }
  // What the reply awaited now answers. With PIPELINING it is the oldest command sent.
  ClientWait waiting_for() const;
  // Complete replies handled so far. A deadline runs per reply, so that a server cannot
  // hold a reply open by sending it one octet at a time: a new count starts a new wait.
  size_t replies_read() const { return replies_read_; }

  // The connection cannot go on because a deadline passed: every open recipient is a
  // temporary failure whose reply is "4.4.2 " + `reason` (RFC 3463: the connection "was
  // unable to complete the message transaction, either because of time-out …").
  ClientStep on_deadline(std::string_view reason);

 private:
  enum class State {
    greeting,
    ehlo,
    helo,
    starttls,
    ready,
    transaction,
    data,      // after the 354: the content goes out a piece at a time
    data_end,  // the final "." is sent
    chunk,     // CHUNKING: a BDAT chunk is sent, or the next piece is awaited
    rset,
    quit,
    closed
  };
  enum class Expect { mail, rcpt, data };
  struct PendingCommand {
    Expect expect;
    size_t recipient = 0;  // for rcpt
    std::string line;      // with CRLF
  };
  enum class RecipientState { open, accepted, finished };

  void handle_replies(ClientStep& step);
  void on_reply(const Reply& reply, ClientStep& step);
  void on_greeting(const Reply& reply, ClientStep& step);
  void on_ehlo(const Reply& reply, ClientStep& step);
  void on_helo(const Reply& reply, ClientStep& step);
  void on_starttls(const Reply& reply, ClientStep& step);
  void on_transaction_reply(const Reply& reply, ClientStep& step);
  void on_data_end(const Reply& reply, ClientStep& step);
  void on_chunk_reply(const Reply& reply, ClientStep& step);
  void on_rset(const Reply& reply, ClientStep& step);

  std::optional<std::string> refusal(const OutboundMessage& message) const;
  std::string mail_command(const OutboundMessage& message) const;
  std::string rcpt_command(const OutboundRecipient& recipient) const;
  void continue_transaction(ClientStep& step);
  void start_content(ClientStep& step);
  void ask_for_content(ClientStep& step);
  void send_chunk(std::string_view bytes, bool last_of_piece, ClientStep& step);
  void send_rset(ClientStep& step);
  void finish_message(ClientStep& step);
  void become_ready(ClientStep& step);
  void give_up(std::string reason, bool send_quit, ClientStep& step);

  void finish(size_t recipient, AttemptResult::Outcome outcome, std::string reply);
  void finish_open(AttemptResult::Outcome outcome, const std::string& reply);
  void finish_accepted(const Reply& reply);
  bool any_open() const;
  bool any_accepted() const;

  ClientSettings settings_;
  ReplyParser parser_;
  State state_ = State::greeting;
  PeerExtensions extensions_;
  bool tls_active_ = false;
  std::string failure_;
  size_t replies_read_ = 0;

  uint64_t content_size_ = 0;
  bool wants_content_ = false;  // the last step's next was send_content
  DotStuffer stuffer_;          // DATA
  // CHUNKING: what of the last piece did not fit its chunk, and whether that piece was the
  // content's last.
  std::string chunk_rest_;
  bool piece_was_last_ = false;
  bool last_chunk_sent_ = false;
  std::deque<PendingCommand> unsent_;
  std::deque<PendingCommand> awaiting_;  // sent, reply not yet read, oldest first
  std::vector<RecipientState> recipients_;
  std::vector<AttemptResult> outcomes_;
};

}  // namespace herald
