// The Authentication-Results header field (RFC 8601): what this server verified about a
// message, for the mailbox and the user's mail client to act on; and the removal of fields
// that claim to come from this server but arrived with the message (RFC 8601 5), since a
// forger would otherwise hand the user a "pass" of their own making.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald {

// One result: "dkim=pass (reason) header.d=example.com header.s=s1".
struct AuthResult {
  std::string method;  // spf, dkim, dmarc, arc, auth, iprev (RFC 8601 2.7, IANA registry)
  std::string result;  // pass, fail, softfail, neutral, none, temperror, permerror, policy, …
  std::string reason;  // free text for a comment; "" for none
  // ptype.property=value, e.g. {"smtp.mailfrom", "example.com"}, {"header.d", "example.com"}.
  std::vector<std::pair<std::string, std::string>> properties;
};

// The whole field, folded, ending in CRLF: "Authentication-Results: <authserv_id>;" then the
// results separated by ";", or "none" when there are none (RFC 8601 2.2). Property values
// that are not RFC 2045 tokens (say, an address with "@" in smtp.mailfrom is fine, one with
// spaces is not) are written as quoted strings.
std::string authentication_results_field(std::string_view authserv_id,
                                         const std::vector<AuthResult>& results);

// The results alone, "spf=pass smtp.mailfrom=a.test; dkim=…" (or "none"), unfolded: what
// follows the authserv-id in the field, and what an ARC-Authentication-Results records.
std::string authentication_results_payload(const std::vector<AuthResult>& results);

// Removes from `content` (header section, blank line, body; CRLF line ends) the
// Authentication-Results fields whose authserv-id is `authserv_id` (compared without case,
// after comments), in place: every received message passes here, and most have none, so
// nothing is copied then. Other servers' fields stay. The body is never touched.
void remove_own_authentication_results(std::string& content, std::string_view authserv_id);

}  // namespace herald
