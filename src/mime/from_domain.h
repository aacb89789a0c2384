// The RFC5322.From domain (RFC 7489 3.1.1): the domain of the author's address in the
// message's From field, the name that DKIM signing keys and DMARC alignment hang off.
#pragma once

#include <string>
#include <string_view>
#include <variant>

namespace herald {

struct FromDomainError {
  std::string reason;  // for a log line: what about the From field is unusable
};

// The domain of the From field of `message` (CRLF text; only the header section, up to the
// first empty line, is read), lower case and without a trailing dot. Comments, quoted
// strings, display names, group syntax and obsolete routes are understood (RFC 5322 3.4,
// 4.4). Errors, as RFC 7489 6.6.1 treats them: no From field, more than one, no address,
// an address without a domain name (a domain literal counts as none), or mailboxes in
// different domains. Pure.
std::variant<std::string, FromDomainError> rfc5322_from_domain(std::string_view message);

}  // namespace herald
