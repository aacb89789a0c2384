// The RFC5322.From domain of a message: the identifier DMARC protects (RFC 7489 3.1, 6.6.1)
// and the one DKIM signing chooses its key by. Pure.
#pragma once

#include <string>
#include <string_view>

namespace herald {

struct AuthorDomain {
  std::string domain;   // lower case; empty when there is none to use
  std::string problem;  // why `domain` is empty: no From, two From fields, no address, …
};

// Reads the From field of `message` (CRLF header section; the body is not looked at).
// RFC 7489 6.6.1: a message with several From fields, or one From naming mailboxes in
// different domains, has no single author domain; several mailboxes in one domain have it.
// Display names, comments, quoted strings and folding are understood; group syntax and
// obsolete routes are taken as far as finding each addr-spec's domain.
AuthorDomain author_domain(std::string_view message);

}  // namespace herald
