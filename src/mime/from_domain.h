// The RFC5322.From domain (RFC 7489 3.1.1): the domain of the author's address in the
// message's From field, the name that DKIM signing keys and DMARC alignment hang off.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

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

// The addresses of every `name` field ("From", "Sender"; any case) in the header section of
// `message`, one list per field, read as rfc5322_from_domain reads From: the addr-spec of
// each mailbox, comments dropped, a quoted local part replaced by "q" (so such an address
// matches no real one). Pure.
std::vector<std::vector<std::string>> rfc5322_field_addresses(std::string_view message,
                                                              std::string_view name);

}  // namespace herald
