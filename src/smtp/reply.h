// An SMTP reply (RFC 5321 4.2): a three-digit code, an enhanced status code (RFC 3463)
// and one or more lines of text, and its form on the wire.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace herald {

struct Reply {
  int code = 250;
  // "2.1.5"; empty for the replies RFC 2034 section 3 exempts: the greeting, HELO/EHLO,
  // and 3xx intermediate replies (354).
  std::string enhanced;
  std::vector<std::string> lines;  // at least one; none may contain CR or LF

  // The reply as sent: every line but the last written "250-", the last "250 ", each
  // line carrying the enhanced code when there is one (RFC 5321 4.2.1, RFC 2034 4).
  std::string wire() const;

  bool is_positive() const { return code < 400; }
};

// A one-line reply.
Reply make_reply(int code, std::string_view enhanced, std::string text);

}  // namespace herald
