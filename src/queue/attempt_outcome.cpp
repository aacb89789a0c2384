#include "queue/attempt_outcome.h"

#include <cctype>
#include <variant>

#include "util/time_text.h"

namespace herald {
namespace {

// RFC 3463 3.5: X.4.7 "delivery time expired"; 5 when the sender set the time (RFC 2852
// mode R returns the message), 4 when herald's own retry budget ran out on temporary errors.
constexpr const char* kDeadlinePassed = "5.4.7";
constexpr const char* kBudgetSpent = "4.4.7";

bool is_status_code(std::string_view token) {
  // class "." subject "." detail: 1 digit, 1-3 digits, 1-3 digits (RFC 3463 2).
  if (token.size() < 5 || (token[0] != '2' && token[0] != '4' && token[0] != '5') ||
      token[1] != '.') {
    return false;
  }
  size_t dots = 0, run = 0;
  for (size_t i = 2; i < token.size(); ++i) {
    if (token[i] == '.') {
      if (run == 0 || ++dots > 1) return false;
      run = 0;
    } else if (std::isdigit(static_cast<unsigned char>(token[i])) && ++run <= 3) {
      continue;
    } else {
      return false;
    }
  }
  return dots == 1 && run > 0;
}

}  // namespace

std::string enhanced_status(std::string_view reply, bool permanent) {
  std::string_view rest = reply;
  // "550 5.1.1 …": skip the reply code; "5.1.1 …": herald's own reasons start with the code.
  if (rest.size() >= 4 && std::isdigit(static_cast<unsigned char>(rest[0])) && rest[3] == ' ') {
    const char cls = rest[0];
    rest.remove_prefix(4);
    const std::string_view token = rest.substr(0, rest.find(' '));
    if (is_status_code(token)) return std::string(token);
    if (cls == '4' || cls == '5') return std::string(1, cls) + ".0.0";
  }
  const std::string_view token = rest.substr(0, rest.find(' '));
  if (is_status_code(token)) return std::string(token);
  return permanent ? "5.0.0" : "4.0.0";
}

RecordedAttempt record_attempt(const Delivery& before, const SchedulingFacts& facts,
                               const AttemptResult& result, TimePoint now,
                               const RetryBudget& budget, double jitter) {
  RecordedAttempt out{before, LedgerEvent{}, {}};
  Delivery& d = out.delivery;
  LedgerEvent& e = out.event;
  d.attempts = before.attempts + 1;
  d.last_reply = result.reply;
  d.next_attempt = now;
  e.at = now;
  e.recipient = before.mailbox;
  e.fields = result.fields;

  switch (result.outcome) {
    case AttemptResult::Outcome::delivered:
      d.state = DeliveryState::delivered;
      e.type = "delivered";
      out.status = enhanced_status(result.reply, false);
      if (out.status[0] != '2') out.status = "2.0.0";
      break;
    case AttemptResult::Outcome::permanent:
      d.state = DeliveryState::bounced;
      e.type = "bounced";
      out.status = enhanced_status(result.reply, true);
      break;
    case AttemptResult::Outcome::temporary: {
      SchedulingFacts after = facts;
      after.attempts = d.attempts;
      const AfterFailure next = after_temporary_failure(after, now, budget, jitter);
      if (const auto* retry = std::get_if<RetryAt>(&next)) {
        d.state = DeliveryState::deferred;
        d.next_attempt = retry->at;
        e.type = "deferred";
        out.status = enhanced_status(result.reply, false);
      } else {
        const bool deadline = std::holds_alternative<ExpireNow>(next);
        d.state = DeliveryState::expired;
        e.type = "expired";
        e.fields.insert(e.fields.begin(), {"reason", deadline ? std::get<ExpireNow>(next).reason
                                                              : std::get<GiveUp>(next).reason});
        out.status = deadline ? kDeadlinePassed : kBudgetSpent;
      }
      break;
    }
  }
  if (!result.reply.empty()) e.fields.emplace_back("reply", result.reply);
  e.fields.emplace_back("attempt", std::to_string(d.attempts));
  if (d.state == DeliveryState::deferred) {
    e.fields.emplace_back("next_attempt", format_utc(d.next_attempt));
  }
  return out;
}

RecordedAttempt record_expiry(const Delivery& before, const std::string& reason, TimePoint now) {
  RecordedAttempt out{before, LedgerEvent{now, "expired", before.mailbox, {{"reason", reason}}},
                      kDeadlinePassed};
  out.delivery.state = DeliveryState::expired;
  out.delivery.next_attempt = now;
  out.delivery.last_reply = reason;
  return out;
}

}  // namespace herald
