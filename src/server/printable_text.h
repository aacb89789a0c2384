// Text from peers, made safe and unambiguous for an operator's terminal: what the herald
// CLI's reports (message_report.h, queue_listing.h) print values through.
#pragma once

#include <string>
#include <string_view>

namespace herald {

// Peers choose HELO names, addresses and reply texts: control characters (below 0x20, and
// 0x7f) come out as \xNN so that nothing they send can drive the operator's terminal.
// Everything else, UTF-8 included, is kept as it is.
std::string printable(std::string_view text);

// key=value, printable; the value in double quotes (with \" and \\ inside) when it holds
// spaces, tabs, quotes, backslashes or nothing, so that a line splits back into its fields.
std::string field_text(std::string_view key, std::string_view value);

// `text` with spaces appended up to `width` characters; longer text is returned whole.
std::string padded(std::string text, size_t width);

// `text` cut to at most `width` characters, its last one replaced by `~` when it was cut,
// so that a fixed-width column stays aligned and a cut value is told from a whole one.
// Widths count bytes; a UTF-8 character is never cut in half (it is dropped whole, leaving the
// value a little shorter). `width` must be at least 1.
std::string truncated(std::string text, size_t width);

}  // namespace herald
