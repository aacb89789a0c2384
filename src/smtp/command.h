// Parsing of one SMTP command line (RFC 5321 4.1) into a typed command. Syntax only:
// whether a command is allowed now, and what to answer, is the session's business
// (smtp/server_session.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store/records.h"

namespace herald {

enum class Verb {
  helo,
  ehlo,
  mail,
  rcpt,
  data,
  bdat,
  rset,
  noop,
  quit,
  vrfy,
  expn,
  help,
  starttls,
  auth,
  unknown,
};

// A reverse- or forward-path (RFC 5321 4.1.2) without its angle brackets and without
// the source route, which RFC 5321 appendix C lets a server ignore.
struct Path {
  // As written, except that a quoted-string whose content is a plain dot-string is
  // unquoted ("alice" and alice are the same mailbox, RFC 5322 3.4.1).
  std::string local_part;
  std::string domain;      // a domain or an address literal ("[192.0.2.1]"); empty for
                           // <> and for the bare <Postmaster> (RFC 5321 4.1.1.3)
  bool non_ascii = false;  // UTF-8 in the local part or domain: needs SMTPUTF8 (RFC 6531)

  bool is_null() const { return local_part.empty() && domain.empty(); }
  std::string address() const;  // "local@domain", "Postmaster", or "" for <>
};

enum class BodyType { seven_bit, eight_bit_mime };

// RFC 2852 4: BY=<by-time>;<by-mode>[T].
struct DeliverByRequest {
  int64_t seconds = 0;  // from the message's arrival; negative only with mode N
  DeliverByMode mode = DeliverByMode::notify_if_late;
  bool trace = false;
};

// MAIL FROM parameters herald supports (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8,
// RFC 3461 RET and ENVID, RFC 2852 BY, RFC 6710 MT-PRIORITY). Each may appear once.
struct MailParameters {
  std::optional<uint64_t> size;  // saturates at the largest uint64_t
  BodyType body = BodyType::seven_bit;
  bool smtputf8 = false;
  DsnReturn ret = DsnReturn::unspecified;
  std::string envid;  // xtext-decoded; empty when not given
  std::optional<DeliverByRequest> by;
  std::optional<int> priority;  // -9..9, as the client asked; the session decides to honour it
};

// RCPT TO parameters (RFC 3461 NOTIFY and ORCPT). Each may appear once.
struct RcptParameters {
  NotifyRequest notify;
  std::string original_recipient;  // "addr-type;address", xtext-decoded; empty when not given
};

// What is wrong with a command line, for the session to answer.
enum class CommandError {
  none,
  unrecognized,           // unknown verb: 500
  syntax,                 // wrong arguments or parameter values: 501 5.5.4
  bad_path,               // MAIL/RCPT path is not RFC 5321 4.1.2 syntax: 501 5.1.7 / 5.1.3
  unsupported_parameter,  // an ESMTP parameter herald does not know: 555 (RFC 5321 4.1.1.11)
};

struct Command {
  Verb verb = Verb::unknown;
  CommandError error = CommandError::none;
  std::string error_detail;  // the unsupported parameter's keyword

  std::string helo_domain;  // HELO/EHLO: a domain or an address literal, as written
  Path path;                // MAIL/RCPT
  MailParameters mail;      // MAIL
  RcptParameters rcpt;      // RCPT
  uint64_t chunk_size = 0;  // BDAT (RFC 3030)
  bool last_chunk = false;  // BDAT … LAST
  std::string text;         // the free argument of NOOP, HELP, VRFY, EXPN, AUTH
};

// Parses one command line without its CRLF. Total: any byte string gives a Command,
// never an exception or a crash; it is the fuzz target fuzz/fuzz_smtp_command.cpp.
Command parse_command(std::string_view line);

}  // namespace herald
