// Writing header fields (RFC 5322 2.2): one unfolded "Name: value" becomes lines of at most
// 78 characters where the value's spaces allow, each ending in CRLF.
#pragma once

#include <string>
#include <string_view>

#include "util/clock.h"

namespace herald {

// The field "name: value" folded before spaces (RFC 5322 2.2.3) so that lines stay within 78
// characters where possible, ending in CRLF. CR, LF and other controls in `value` (say, a
// multi-line remote reply) become spaces, so the result is always one well-formed field.
// A run of more than 998 characters without a space is broken by an inserted fold, the only
// way to respect the hard line limit of RFC 5322 2.1.1.
std::string header_field(std::string_view name, std::string_view value);

// RFC 5322 3.3 date-time in UTC: "Tue, 02 Jan 2024 15:04:05 +0000".
std::string header_date(TimePoint at);

}  // namespace herald
