// Message identifiers: 26 characters of Crockford base32 (the ULID layout), 48 bits of
// millisecond time followed by 80 random bits. They sort by arrival time as plain strings,
// which keeps a message's records together and in order in the store, and are safe in
// file names, SMTP replies and shell arguments.
#pragma once

#include <string>
#include <string_view>

#include "util/clock.h"

namespace herald {

// Thread-safe. The random part comes from a per-thread generator seeded from the OS.
std::string new_message_id(TimePoint now);

// True when `id` has the shape new_message_id() produces; the CLI checks user input with it.
bool is_message_id(std::string_view id);

}  // namespace herald
