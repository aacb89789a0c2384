// How the result of one delivery attempt is written down: the delivery's next state and the
// ledger event that says what happened and why. A pure function, so that the state machine
// of DESIGN.md section 2 can be read, and tested, apart from the queue's threads.
#pragma once

#include "config/config.h"
#include "queue/transport.h"
#include "store/records.h"

namespace herald {

struct RecordedAttempt {
  Delivery delivery;  // attempts + 1, the new state, last_reply, next_attempt
  LedgerEvent event;  // delivered, deferred, bounced or expired; recipient is the mailbox
};

// `result` of attempting `before` at `now`:
//   delivered -> delivered; fields from the transport (mailbox=…), reply, attempt
//   permanent -> bounced;   reply, attempt
//   temporary -> deferred;  reply, attempt, next_attempt (retry_policy.h), or, once the
//                retry budget is spent, expired; reason, reply, attempt
// `jitter` in [0, 1) spreads the retry time (queue/retry_policy.h).
RecordedAttempt record_attempt(const Delivery& before, const MessageRecord& message,
                               const AttemptResult& result, TimePoint now,
                               const QueueConfig& config, double jitter);

}  // namespace herald
