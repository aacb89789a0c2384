// What the scheduler and the retry budget need to know about one delivery, taken from its
// Delivery and MessageRecord (DESIGN.md section 3) so that policy does not depend on how the
// records are stored.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>

#include "store/records.h"
#include "util/clock.h"

namespace herald {

struct SchedulingFacts {
  int priority = 0;                   // -9..9, higher first (RFC 6710 scale)
  std::optional<TimePoint> deadline;  // deliver_by: earlier deadlines go first; none goes last
  // The hard stop: no attempt starts at or after it, the delivery expires instead. The
  // earliest of expire_at and a deliver_by whose mode is R (RFC 2852 4.1: return if late);
  // a deliver_by in mode N only orders, it does not stop delivery.
  std::optional<TimePoint> expires;
  TimePoint arrival;        // when the message was received; age is measured from here
  std::string destination;  // what concurrency and rate limits count: a domain, a mailbox host
  TimePoint next_attempt;   // not ready before this
  uint32_t attempts = 0;    // attempts made so far
  // The delivery's own MAIL FROM (Delivery::envelope_sender), empty for the message's: one
  // SMTP transaction has one, so only deliveries that share it ride together.
  std::string envelope_sender;
};

}  // namespace herald
