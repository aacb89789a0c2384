// Times as operators read them in ledger fields and CLI output.
#pragma once

#include <string>

#include "util/clock.h"

namespace herald {

// ISO 8601 in UTC with milliseconds: "2023-11-14T22:13:20.123Z".
std::string format_utc(TimePoint t);

}  // namespace herald
