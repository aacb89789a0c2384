// The queue's policy as the configuration states it: which scheduler limits and retry budget
// apply to a delivery, and the facts about a delivery that the scheduler and the budget
// decide on. Pure; the queue runner calls these once per delivery it takes in.
#pragma once

#include <string>

#include "config/config.h"
#include "queue/delivery_budget.h"
#include "queue/scheduler.h"
#include "queue/scheduling_facts.h"
#include "store/records.h"

namespace herald {

// Local delivery: one "destination" per mailbox (writers to one Maildir contend for its
// directory), max_deliveries_per_mailbox each, no reserved slots or rate limits.
SchedulerConfig local_scheduler_config(const QueueConfig& queue);

// Outbound SMTP: one destination per recipient domain, [queue] defaults with the
// [[destination]] overrides.
SchedulerConfig remote_scheduler_config(const QueueConfig& queue,
                                        const std::vector<DestinationConfig>& destinations);

// [queue] retry_backoff / max_age / max_attempts as the defaults, each [[destination]]'s
// budget for its domain.
RetryBudgets retry_budgets(const QueueConfig& queue,
                           const std::vector<DestinationConfig>& destinations);

// The recipient domain of a delivery's address, lower case: what budgets and remote limits
// are keyed by.
std::string recipient_domain(const Delivery& delivery);

// RFC 2852 4: a deliver-by time orders deliveries (earliest first) in both modes, and stops
// them in mode R (return if late); mode N only notifies.
SchedulingFacts scheduling_facts(const MessageRecord& message, const Delivery& delivery);

}  // namespace herald
