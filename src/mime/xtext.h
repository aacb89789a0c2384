// xtext, the encoding of ESMTP DSN parameters ENVID= and ORCPT= (RFC 3461 4): printable
// ASCII other than "+" and "=" stands for itself, any other octet is "+" and two upper-case
// hex digits.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace herald {

// Encodes any octets as xtext. Never fails.
std::string xtext_encode(std::string_view octets);

// Decodes xtext; nullopt when `text` is not xtext (a character outside "!".."~", a "=",
// or a "+" not followed by two upper-case hex digits).
std::optional<std::string> xtext_decode(std::string_view text);

}  // namespace herald
