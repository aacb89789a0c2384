// How the result of one delivery attempt is written down: the delivery's next state and the
// ledger event that says what happened and why. Pure functions, so that the state machine
// of DESIGN.md section 2 can be read, and tested, apart from the queue's threads.
#pragma once

#include <string>

#include "queue/delivery_budget.h"
#include "queue/scheduling_facts.h"
#include "queue/transport.h"
#include "store/records.h"

namespace herald {

struct RecordedAttempt {
  Delivery delivery;  // attempts + 1, the new state, last_reply, next_attempt
  LedgerEvent event;  // delivered, deferred, bounced or expired; recipient is the mailbox
  // The RFC 3463 status a DSN about this outcome reports: the remote reply's enhanced code,
  // 5.4.7 for a hard stop (RFC 2852 mode R), 4.4.7 for a spent retry budget.
  std::string status;
};

// `result` of attempting `before` (whose scheduling facts are `facts`) at `now`:
//   delivered -> delivered; fields from the transport (mailbox=…, remote=…), reply, attempt
//   permanent -> bounced;   fields from the transport, reply, attempt
//   temporary -> deferred;  fields, reply, attempt, next_attempt (delivery_budget.h), or,
//                when the hard stop would pass or the budget is spent, expired; reason, reply
// `jitter` in [0, 1) spreads the retry time.
RecordedAttempt record_attempt(const Delivery& before, const SchedulingFacts& facts,
                               const AttemptResult& result, TimePoint now,
                               const RetryBudget& budget, double jitter);

// The scheduler found `before` past its hard stop before an attempt: expired, with `reason`.
RecordedAttempt record_expiry(const Delivery& before, const std::string& reason, TimePoint now);

// The RFC 3463 enhanced status code in a reply ("550 5.1.1 no such user" -> "5.1.1",
// "4.3.0 disk full" -> "4.3.0"), or the class's generic code (X.0.0) from its reply code or,
// failing that, `permanent`.
std::string enhanced_status(std::string_view reply, bool permanent);

}  // namespace herald
