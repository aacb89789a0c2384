// UTF-8 as the protocols take it (RFC 3629): SMTPUTF8 paths and parameters (RFC 6531),
// MQTT strings.
#pragma once

#include <cstddef>
#include <string_view>

namespace herald {

// The length of the well-formed UTF-8 sequence of a non-ASCII character at text[pos]
// (RFC 3629 4: no overlong forms, no surrogates, nothing past U+10FFFF), or 0 when none
// starts there (an ASCII byte, a stray continuation byte, a truncated or invalid sequence).
// Reads only inside `text`; pos < text.size().
size_t utf8_sequence_length(std::string_view text, size_t pos);

}  // namespace herald
