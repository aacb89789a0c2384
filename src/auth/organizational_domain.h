// Registrable ("organizational") domains from the Public Suffix List, as DMARC uses them
// (RFC 7489 3.2): the public suffix of a name plus one label. The list is Debian's copy
// (package publicsuffix) read through libpsl.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace herald {

// The registrable domain of `domain` (any case, trailing dot allowed; UTF-8 or A-labels):
// "mail.example.co.uk" -> "example.co.uk". nullopt when `domain` is itself a public suffix
// ("co.uk"), starts with a dot, or is empty. Thread-safe; the list is loaded on first use.
// Throws std::runtime_error when no list can be loaded at all.
std::optional<std::string> registrable_domain(std::string_view domain);

// RFC 7489 3.2: the Organizational Domain of `domain`; a name that has none (a public
// suffix itself) is its own, so that a DMARC lookup still has a name to ask about.
std::string organizational_domain(std::string_view domain);

}  // namespace herald
