#include "queue/attempt_outcome.h"

#include "queue/retry_policy.h"
#include "util/time_text.h"

namespace herald {

RecordedAttempt record_attempt(const Delivery& before, const MessageRecord& message,
                               const AttemptResult& result, TimePoint now,
                               const QueueConfig& config, double jitter) {
  RecordedAttempt out{before, LedgerEvent{}};
  Delivery& d = out.delivery;
  LedgerEvent& e = out.event;
  d.attempts = before.attempts + 1;
  d.last_reply = result.reply;
  d.next_attempt = now;
  e.at = now;
  e.recipient = before.mailbox;

  switch (result.outcome) {
    case AttemptResult::Outcome::delivered:
      d.state = DeliveryState::delivered;
      e.type = "delivered";
      e.fields = result.fields;
      break;
    case AttemptResult::Outcome::permanent:
      d.state = DeliveryState::bounced;
      e.type = "bounced";
      e.fields = result.fields;
      break;
    case AttemptResult::Outcome::temporary:
      if (auto next =
              next_attempt_after_failure(d.attempts, message.received_at, now, config, jitter)) {
        d.state = DeliveryState::deferred;
        d.next_attempt = *next;
        e.type = "deferred";
        e.fields = result.fields;
      } else {
        d.state = DeliveryState::expired;
        e.type = "expired";
        e.fields = {{"reason", expiry_reason(config)}};
      }
      break;
  }
  if (!result.reply.empty()) e.fields.emplace_back("reply", result.reply);
  e.fields.emplace_back("attempt", std::to_string(d.attempts));
  if (d.state == DeliveryState::deferred) {
    e.fields.emplace_back("next_attempt", format_utc(d.next_attempt));
  }
  return out;
}

}  // namespace herald
