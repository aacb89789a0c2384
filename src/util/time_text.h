// Times as operators read them in ledger fields and CLI output.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "util/clock.h"

namespace herald {

// ISO 8601 in UTC with milliseconds: "2023-11-14T22:13:20.123Z".
std::string format_utc(TimePoint t);

// The inverse of format_utc: exactly that form, or nullopt (no other offset than Z, no
// missing milliseconds, no impossible date).
std::optional<TimePoint> parse_utc(std::string_view text);

// A duration as herald.toml writes it: the largest unit that divides it ("7d", "4h", "15m",
// "90s").
std::string duration_text(std::chrono::seconds d);

}  // namespace herald
