#include "queue/queue_policy.h"

#include "util/ascii.h"

namespace herald {

SchedulerConfig local_scheduler_config(const QueueConfig& queue) {
  SchedulerConfig config;
  config.defaults.max_concurrent = queue.max_deliveries_per_mailbox;
  config.defaults.reserved_for_urgent = 0;
  config.fair_share_every = queue.fair_share_every;
  return config;
}

SchedulerConfig remote_scheduler_config(const QueueConfig& queue,
                                        const std::vector<DestinationConfig>& destinations) {
  SchedulerConfig config;
  config.defaults.max_concurrent = queue.max_connections_per_destination;
  config.defaults.reserved_for_urgent = queue.reserved_for_urgent;
  config.fair_share_every = queue.fair_share_every;
  for (const DestinationConfig& d : destinations) {
    DestinationLimits limits;
    limits.max_concurrent = d.max_connections;
    limits.reserved_for_urgent = d.reserved_for_urgent;
    limits.rate_attempts = d.rate_attempts;
    limits.rate_interval = d.rate_interval;
    config.destinations.emplace(d.domain, limits);
  }
  return config;
}

RetryBudgets retry_budgets(const QueueConfig& queue,
                           const std::vector<DestinationConfig>& destinations) {
  RetryBudgets budgets;
  budgets.defaults.backoff = queue.retry_backoff;
  budgets.defaults.max_age = queue.max_age;
  budgets.defaults.max_attempts = queue.max_attempts;
  for (const DestinationConfig& d : destinations) {
    RetryBudget budget;
    budget.backoff = d.retry_backoff;
    budget.max_age = d.max_age;
    budget.max_attempts = d.max_attempts;
    budgets.per_domain.emplace(d.domain, budget);
  }
  return budgets;
}

std::string recipient_domain(const Delivery& delivery) {
  const auto at = delivery.mailbox.rfind('@');
  return at == std::string::npos ? "" : ascii_lower(delivery.mailbox.substr(at + 1));
}

SchedulingFacts scheduling_facts(const MessageRecord& message, const Delivery& delivery) {
  SchedulingFacts facts;
  facts.priority = message.qos.priority;
  if (message.qos.deliver_by_mode != DeliverByMode::none) {
    facts.deadline = message.qos.deliver_by;
    if (message.qos.deliver_by_mode == DeliverByMode::return_if_late) {
      facts.expires = message.qos.deliver_by;
    }
  }
  facts.arrival = message.received_at;
  facts.destination =
      delivery.transport == "local" ? "mailbox:" + delivery.mailbox : recipient_domain(delivery);
  facts.envelope_sender = delivery.envelope_sender;
  facts.next_attempt = delivery.next_attempt;
  facts.attempts = delivery.attempts;
  return facts;
}

}  // namespace herald
