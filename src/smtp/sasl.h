// The SASL pieces of SMTP AUTH (RFC 4954): base64 as the exchange carries it, and the
// PLAIN message (RFC 4616). LOGIN (draft-murchison-sasl-login) is two base64 lines, a
// user name and a password, and needs nothing beyond decoding.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace herald {

// RFC 4648 4 base64, strictly: complete 4-character groups of the standard alphabet with
// '=' padding only at the end; nullopt for anything else. "" decodes to "".
std::optional<std::string> decode_base64(std::string_view text);

struct SaslCredentials {
  std::string login;  // the authentication identity (authcid)
  std::string password;
};

// RFC 4616 2: message = [authzid] NUL authcid NUL passwd. herald does not let one user act
// for another, so the authzid must be empty or equal to the authcid; nullopt otherwise,
// and for a message that is not three NUL-separated fields with a non-empty authcid.
std::optional<SaslCredentials> parse_plain_message(std::string_view message);

}  // namespace herald
