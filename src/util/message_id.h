// Message identifiers: 26 characters of Crockford base32 (the ULID layout), 48 bits of
// millisecond time followed by 80 random bits. They sort by arrival time as plain strings,
// which keeps a message's records together and in order in the store, and are safe in
// file names, SMTP replies and shell arguments.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "util/clock.h"

namespace herald {

// Thread-safe. The random part comes from a per-thread generator seeded from the OS.
std::string new_message_id(TimePoint now);

// Ids that increase strictly in the order they are made, also within one millisecond: the
// next in the same millisecond (or one the clock stepped back to) is the last plus one in its
// random part (ULID's monotonic mode). What keeps the copies of one MQTT publisher in order
// in a session's queue, where equal times are ordered by message id. Thread-safe.
class MessageIdSequence {
 public:
  std::string next(TimePoint now);

 private:
  std::mutex mutex_;
  uint64_t last_ms_ = 0;
  uint16_t high_ = 0;  // the random part: 16 bits, then 64
  uint64_t low_ = 0;
};

// True when `id` has the shape new_message_id() produces; the CLI checks user input with it.
bool is_message_id(std::string_view id);

}  // namespace herald
