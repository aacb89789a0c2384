// The server side of one SMTP session (RFC 5321 with PIPELINING, SIZE, 8BITMIME, SMTPUTF8,
// ENHANCEDSTATUSCODES, CHUNKING, DSN, DELIVERBY, MT-PRIORITY, STARTTLS and, on submission
// listeners, AUTH) as a state machine
// without I/O: it takes command lines, message content and I/O outcomes, and says what to answer
// and what the connection must do next. Every verb is one row of a command table
// (server_session.cpp): the states it is valid in and its handler. Reply codes and texts (RFC
// 5321 4.2 with RFC 3463 enhanced codes) are an interface: clients, operators and the tests read
// them.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/message_authentication.h"
#include "auth/srs.h"
#include "config/config.h"
#include "directory/directory.h"
#include "smtp/auth_failure_limiter.h"
#include "smtp/command.h"
#include "smtp/data_reader.h"
#include "smtp/in_flight_budget.h"
#include "smtp/reply.h"
#include "smtp/sasl.h"
#include "store/records.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/ip_network.h"

namespace herald {

struct SessionSettings {
  std::string hostname;           // announced in the greeting, EHLO and Received
  std::string listener = "smtp";  // the listener's protocol, recorded in the envelope
  LimitsConfig limits;
  bool starttls_offered = true;
  // Submission (RFC 6409): AUTH PLAIN LOGIN is offered once TLS is active (RFC 4954 4 and
  // 14) and required before MAIL; the sender must be the user's; relay is allowed.
  bool submission = false;
  bool tls_on_connect = false;  // submissions (RFC 8314 3.3): TLS from the first byte
  std::string postmaster;       // the mailbox a bare RCPT TO:<Postmaster> means
  // Clients from these networks may relay without AUTH ([server] trusted_networks).
  std::vector<IpNetwork> trusted_networks;
  // Who sent mail from clients neither authenticated nor trusted is checked (SPF at MAIL
  // FROM, DKIM and DMARC at the end of data) and acted on as `policy` says.
  bool verify_senders = false;
  PolicyConfig policy;
  // Signs the return path of copies that aliases forward, and checks the SRS addresses
  // bounces come back to. Must outlive the session. Null: forwarded copies keep the
  // original sender and no SRS address is taken.
  const SenderRewriting* srs = nullptr;
  // Counts RCPTs to SRS addresses with a bad hash per client (limits.max_srs_failures): past
  // it, that client's SRS RCPTs get 450 4.7.1. Must outlive the session; null: not limited.
  AuthFailureLimiter* srs_failures = nullptr;
  // The budget all sessions' content in memory is charged to (limits.max_bytes_in_flight).
  // Must outlive the session; null: not counted.
  InFlightBudget* in_flight_budget = nullptr;
  // Set (by the free-space monitor, on any thread) while the store's disk is short of space:
  // MAIL FROM then answers 452 4.3.1. Must outlive the session; null: never short.
  const std::atomic<bool>* storage_low = nullptr;
  // Set with storage_low: the octets free above the minimum on the fullest of those disks. A
  // MAIL whose SIZE= declares more gets 452 4.3.1 (RFC 1870 6.1). Null: not checked.
  const std::atomic<uint64_t>* storage_headroom = nullptr;
  // A message from the internet that an alias forwards is ARC-sealed (RFC 8617 5.1) after its
  // checks: an [arc] key exists.
  bool arc_sealing = false;
};

struct PeerInfo {
  std::string ip;  // numeric
  uint16_t port = 0;
};

struct TlsInfo {
  std::string version;  // "TLSv1.3"
  std::string cipher;   // "TLS_AES_256_GCM_SHA384"
};

// A message the session accepted, to be committed to the store as it stands.
struct AcceptedMessage {
  MessageRecord record;
  // herald's trace fields on top of the header as the client sent it; the body as the
  // session wrote it ahead to the store (ArrivingBody) and the rest of it.
  ContentToCommit content;
  InFlightCharge charge;             // what `content` holds of the in-flight budget
  std::vector<Delivery> deliveries;  // one per distinct final mailbox
  std::vector<LedgerEvent> events;   // `received`, `auth` when checked, one `queued` per delivery
};

// A body whose pieces a session wrote ahead of its commit (Store::write_body_piece).
struct ArrivingBody {
  std::string message_id;
  uint32_t pieces = 0;
};

// A full piece of an arriving body, for the connection to write to the store.
struct BodyPiece {
  std::string message_id;
  uint32_t index = 0;
  std::string bytes;
};

// What the connection does after sending `reply` (if any).
struct SessionStep {
  enum class Next {
    read_command,
    read_data,          // feed content to on_data() until data_complete(), then on_data_end()
    read_chunk,         // feed exactly chunk_size octets to on_chunk_data(), then on_chunk_end()
    start_tls,          // discard buffered input, handshake, then on_tls_started()
    check_credentials,  // off the io threads, Directory::authenticate(credentials_to_check()),
                        // then on_credentials_checked()
    check_sender,       // SPF for sender_to_check() (bounded, off the io threads), then
                        // on_sender_checked()
    check_message,      // authenticate message_to_commit() with spf_check(), then
                        // on_message_checked()
    seal_message,       // ARC-seal message_to_commit() as seal_request() says (off the
                        // io threads), then on_message_sealed() or on_seal_refused()
    commit,             // commit message_to_commit(), then on_commit_succeeded() or _failed()
    close,
  };
  std::optional<Reply> reply;
  Next next = Next::read_command;
  uint64_t chunk_size = 0;
};

// Not thread-safe: one session belongs to one connection. `settings`, `directory`,
// `clock` and `auth_limiter` must outlive it; without a limiter, failed AUTHs are not
// limited (tests).
class ServerSession {
 public:
  ServerSession(const SessionSettings& settings, const Directory& directory, const Clock& clock,
                PeerInfo peer, AuthFailureLimiter* auth_limiter = nullptr);

  Reply greeting() const;  // 220 <hostname> ESMTP herald

  // One command line, without its line ending.
  SessionStep on_command_line(std::string_view line);
  // A command line longer than limits.max_command_line came (and was skipped).
  SessionStep on_line_too_long();

  // DATA content: returns how many octets of `input` were content (see DataReader). It
  // takes no more while a body piece is ready: the connection writes it to the store
  // (take_piece()) and feeds the rest.
  size_t on_data(std::string_view input);
  bool data_complete() const;
  SessionStep on_data_end();

  // BDAT content: every octet of the announced chunk, in pieces of any size; returns how
  // many it took, fewer when a body piece is ready (as on_data).
  size_t on_chunk_data(std::string_view piece);

  // A body piece is full: the connection writes take_piece() with Store::write_body_piece,
  // off the io thread, and reports a failure with on_piece_not_stored() (the content is
  // then refused with 451 4.3.0 at its end).
  bool piece_ready() const;
  BodyPiece take_piece();
  void on_piece_not_stored();
  // Bodies written ahead whose transactions ended without a commit (refused, reset, failed
  // to commit): the connection drops them with Store::discard_body.
  std::vector<ArrivingBody> take_abandoned_bodies();
  // Octets of header section the session holds now (arriving, or of the message to commit):
  // what the end-of-data steps read and edit, linearly.
  uint64_t header_octets() const;
  bool has_abandoned_bodies() const { return !abandoned_.empty(); }
  // The body being written ahead, if any: what the connection drops when it closes.
  const std::optional<ArrivingBody>& arriving_body() const { return arriving_; }
  SessionStep on_chunk_end();

  // Valid between a `check_sender` step and on_sender_checked().
  SpfRequest sender_to_check() const;
  // 250 2.1.0, or the refusal spf_refusal() gives for the policy.
  SessionStep on_sender_checked(SpfOutcome outcome);

  // Valid between a `check_message` step and on_message_checked(): the SPF check made at
  // MAIL FROM.
  const SpfCheck& spf_check() const { return transaction_.spf; }
  // 550 5.7.1 when the policy refuses the message; otherwise Authentication-Results (and a
  // quarantine mark) join the content, `auth` (and `quarantined`) the ledger, and the
  // message goes on to its commit.
  SessionStep on_message_checked(const MessageAuthentication& auth);

  // What an ARC seal records, valid between a `seal_message` step and on_message_sealed():
  // the Authentication-Results payload herald wrote and the chain as it arrived.
  struct ArcSealRequest {
    std::string results;
    ArcChainResult chain = ArcChainResult::none;
  };
  const ArcSealRequest& seal_request() const { return seal_request_; }
  // The ARC set to put on top; the message goes on to its commit.
  SessionStep on_message_sealed(std::string fields);
  // Why there is no seal (say, the chain was already given up upstream): the message goes
  // on unsealed to its commit, and the ledger says why.
  SessionStep on_seal_refused(std::string reason);

  // Valid between a `check_message`, `seal_message` or `commit` step and the call that reports its
  // outcome.
  const AcceptedMessage& message_to_commit() const { return accepted_; }
  SessionStep on_commit_succeeded();  // 250 queued as ID
  SessionStep on_commit_failed();     // 451: nothing was stored

  // Valid between a `check_credentials` step and on_credentials_checked().
  const SaslCredentials& credentials_to_check() const { return credentials_; }
  // `user`: the canonical address the credentials belong to, or nullopt when they are
  // wrong. 235 2.7.0, or 535 5.7.8 (counted against the client's address).
  SessionStep on_credentials_checked(std::optional<std::string> user);

  // RFC 3207 4.2: after the handshake the session starts over, EHLO first.
  void on_tls_started(TlsInfo tls);

  Reply timeout_reply() const;  // 421 4.4.2, then the connection closes
  // 421 4.4.2 after limits.max_session_time, then the connection closes.
  Reply session_time_reply() const;
  Reply shutdown_reply() const;  // 421 4.3.2, then the connection closes

  const std::string& helo() const { return helo_; }
  const std::string& authenticated_as() const { return authenticated_as_; }
  uint32_t messages_accepted() const { return messages_accepted_; }
  // Why the session asked for the close, for the log: "quit", "too-many-errors" or
  // "too-many-non-mail-commands".
  std::string_view close_reason() const;

 private:
  enum class State { fresh, greeted, in_mail, in_chunks };
  using Handler = SessionStep (ServerSession::*)(const Command&);
  struct CommandRule {
    Verb verb;
    unsigned valid_states;  // a bit per State
    Handler handle;
    std::string_view usage;  // shown after "501 5.5.4 Syntax: "
    // NOOP, RSET, VRFY, EXPN, HELP: no step toward a message, so only so many are answered
    // (limits.max_non_mail_commands, after Postfix's smtpd_junk_command_limit).
    bool non_mail = false;
  };
  static const CommandRule kCommandTable[];

  // A RCPT that was accepted, with its DSN parameters.
  struct Recipient {
    std::string address;
    RcptParameters parameters;
  };

  // Where one delivery goes: a local mailbox, or a remote address herald relays to.
  struct Target {
    size_t recipient = 0;  // index into Transaction::recipients: the RCPT that reached it
    std::string address;   // the mailbox's canonical address, or the remote address
    bool remote = false;
    std::string forwarded_by;  // the alias that forwards to this remote address, if any
  };

  // The recipients and the targets they reached, as RCPT accepted them.
  struct Transaction {
    Path reverse_path;
    MailParameters parameters;
    bool rcpt_seen = false;  // a RCPT was tried, accepted or not
    std::vector<Recipient> recipients;
    std::vector<Target> targets;  // distinct addresses: the first RCPT to reach one wins
    std::optional<DataReader> reader;
    std::string message_id;  // chosen when the content starts: its pieces are stored under it
    SpfCheck spf;            // result none when the sender is not checked
  };

  SessionStep handle_helo(const Command& command);
  SessionStep handle_ehlo(const Command& command);
  SessionStep handle_mail(const Command& command);
  SessionStep handle_rcpt(const Command& command);
  SessionStep handle_data(const Command& command);
  SessionStep handle_bdat(const Command& command);
  SessionStep handle_rset(const Command& command);
  SessionStep handle_noop(const Command& command);
  SessionStep handle_quit(const Command& command);
  SessionStep handle_vrfy(const Command& command);
  SessionStep handle_help(const Command& command);
  SessionStep handle_starttls(const Command& command);
  SessionStep handle_auth(const Command& command);
  SessionStep on_auth_response(std::string_view line);
  SessionStep take_login_name(std::string_view decoded);
  SessionStep check(SaslCredentials credentials);
  SessionStep relay_decision(const Command& command);
  SessionStep return_to_sender(const Command& command);
  static std::vector<Target> local_targets(const RecipientLookup& found, const std::string& alias);
  void forward_with_srs(const Target& target, TimePoint now, Delivery& delivery,
                        LedgerEvent& queued) const;
  SessionStep accept_targets(const std::string& address, const RcptParameters& parameters,
                             std::vector<Target> targets);
  bool may_relay() const;
  bool verifies_sender() const;
  void add_authentication_results(const std::vector<AuthResult>& results);
  SessionStep handle_not_implemented(const Command& command);

  SessionStep refuse_syntax(const Command& command, const CommandRule& rule);
  SessionStep refuse_out_of_sequence(const Command& command);
  SessionStep refuse_content(ContentProblem problem);
  void start_reading();
  bool no_room_in_flight() const;
  std::optional<Reply> refuse_unowned_header_addresses() const;
  SessionStep protocol_error(Reply reply);
  SessionStep accept_content();
  Qos message_qos(TimePoint arrival, LedgerEvent& received) const;
  void start_over(State state);
  std::string with_protocol() const;
  std::string sequence_hint() const;

  // Where an AUTH exchange stands while the server waits for the client's next line.
  enum class AuthExchange { none, plain_message, login_name, login_password };

  const SessionSettings& settings_;
  const Directory& directory_;
  const Clock& clock_;
  PeerInfo peer_;
  AuthFailureLimiter* auth_limiter_;
  AuthExchange auth_exchange_ = AuthExchange::none;
  SaslCredentials credentials_;
  std::string authenticated_as_;  // empty until AUTH succeeds
  bool trusted_network_ = false;  // the peer is in settings.trusted_networks
  std::optional<TlsInfo> tls_;
  State state_ = State::fresh;
  bool extended_ = false;  // EHLO (not HELO) opened the session
  std::string helo_;
  Transaction transaction_;
  std::optional<Reply> chunk_refusal_;  // a refused BDAT answers after its chunk is skipped
  bool chunk_is_last_ = false;
  AcceptedMessage accepted_;
  std::optional<ArrivingBody> arriving_;  // until it is committed or abandoned
  std::vector<ArrivingBody> abandoned_;
  ArcSealRequest seal_request_;
  uint32_t errors_ = 0;
  uint32_t non_mail_commands_ = 0;  // since the session began or last accepted a message
  uint32_t messages_accepted_ = 0;
};

// 421 4.7.0: what a client over limits.max_connections(_per_ip) hears before the close.
Reply too_many_connections_reply(std::string_view hostname);

}  // namespace herald
