// Recording outcomes: each outcome's delivery and ledger events, and the DSNs the outcomes
// call for (one per message and action, RFC 3464 2.3), written together in one batch, so a
// crash leaves both or neither; then each delivery waits again or is done.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>

#include "queue/queue_policy.h"
#include "queue/runner_core.h"
#include "util/time_text.h"

namespace herald {
namespace {

// After a store failure, the next write is tried after this, doubling up to the maximum.
constexpr auto kFirstWriteBackoff = std::chrono::seconds(1);
constexpr auto kMaxWriteBackoff = std::chrono::seconds(30);

// RFC 2852 4 mode N: the sender hears when the deliver-by time passes, so a retry due
// after it happens at it instead, and its failure sends the delay notice.
void keep_deliver_by_appointment(const MessageRecord& message, RecordedAttempt& recorded) {
  Delivery& d = recorded.delivery;
  if (d.state != DeliveryState::deferred || d.delay_notified ||
      message.qos.deliver_by_mode != DeliverByMode::notify_if_late) {
    return;
  }
  if (message.qos.deliver_by > recorded.event.at && message.qos.deliver_by < d.next_attempt) {
    d.next_attempt = message.qos.deliver_by;
    for (auto& [key, value] : recorded.event.fields) {
      if (key == "next_attempt") value = format_utc(d.next_attempt);
    }
  }
}

void log_outcome(const RecordedAttempt& recorded) {
  const Delivery& d = recorded.delivery;
  spdlog::info("queue: {} msg={} rcpt={} transport={} attempt={} reply=\"{}\"", recorded.event.type,
               d.message_id, d.mailbox, d.transport, d.attempts, d.last_reply);
}

}  // namespace

using runner::Lane;
using runner::Outcome;

namespace runner {

// What an operator's bounce records (RFC 3463 X.0.0: other, by the postmaster's choice).
constexpr const char* kReturnedByPostmaster = "5.0.0 returned by the postmaster";

void returned_by_postmaster(RecordedAttempt& recorded) {
  recorded.delivery.state = DeliveryState::bounced;
  recorded.delivery.last_reply = kReturnedByPostmaster;
  recorded.event.type = "bounced";
  recorded.event.fields = {{"reply", kReturnedByPostmaster},
                           {"attempt", std::to_string(recorded.delivery.attempts)}};
  recorded.status = "5.0.0";
}

}  // namespace runner

runner::Outcome QueueRunner::Impl::expired_outcome(Lane& lane, const Entry& entry,
                                                   const std::string& reason) {
  return Outcome{&lane, record_expiry(entry.delivery, reason, clock.now()), "", nullptr};
}

namespace {

// hold() or bounce() arrived while the attempt ran: a delivery the attempt did not finish
// takes the operator's decision now.
void apply_operator_requests(const runner::Entry& entry, RecordedAttempt& recorded) {
  if (recorded.delivery.state != DeliveryState::deferred) return;
  if (entry.bounce_requested) {
    runner::returned_by_postmaster(recorded);
  } else if (entry.hold_requested) {
    recorded.delivery.held = true;
    recorded.event.fields.emplace_back("held", "by the postmaster");
  }
}

}  // namespace

// Which DSN an outcome is about, if any: failures and successes always; a delay once,
// when the delay warning time or a deliver-by time in mode N has passed.
static std::optional<DsnAction> notice_action(const QueueConfig& queue, TimePoint now,
                                              const MessageRecord& message,
                                              const RecordedAttempt& recorded) {
  const Delivery& d = recorded.delivery;
  switch (d.state) {
    case DeliveryState::bounced:
    case DeliveryState::expired:
      return DsnAction::failed;
    case DeliveryState::delivered:
      if (d.transport == "local") return DsnAction::delivered;
      // RFC 3461 5.2.1 and 5.2.2: a next hop that offers DSN took the sender's NOTIFY with
      // the message and reports success itself; one that does not gets it said for it, as
      // "relayed".
      for (const auto& [key, value] : recorded.event.fields) {
        if (key == "peer_dsn" && value == "yes") return std::nullopt;
      }
      return DsnAction::relayed;
    case DeliveryState::deferred:
      break;
    default:
      return std::nullopt;
  }
  if (d.delay_notified) return std::nullopt;
  const bool warning_due =
      queue.delay_warning.count() > 0 && now >= message.received_at + queue.delay_warning;
  const bool deadline_passed =
      message.qos.deliver_by_mode == DeliverByMode::notify_if_late && now >= message.qos.deliver_by;
  if (warning_due || deadline_passed) return DsnAction::delayed;
  return std::nullopt;
}

// The DSN of `items`. A body that cannot be read back (a damaged store) is no reason to keep
// the sender from hearing of the outcome: the notice then returns the header section only.
std::optional<NoticeMessage> QueueRunner::Impl::notice_for(const MessageRecord& message,
                                                           const MessageContent& content,
                                                           const std::vector<NoticeItem>& items,
                                                           TimePoint now) const {
  const auto build = [&](const MessageRecord& original) {
    return build_notice(original, content, items, settings.hostname,
                        settings.queue.dsn_max_returned_size, now, settings.route);
  };
  try {
    return build(message);
  } catch (const ContentReadError& e) {
    spdlog::error("queue: the body of msg={} cannot be read for its DSN, which returns the "
                  "header section only: {}",
                  message.id, e.what());
    MessageRecord headers_only = message;
    headers_only.qos.ret = DsnReturn::headers;
    return build(headers_only);
  }
}

QueueRunner::Impl::Settlement QueueRunner::Impl::record(std::vector<Outcome> outcomes,
                                                        StoreWrite& write) {
  Settlement settlement;
  // Per outcome, its events; DSNs are gathered per message and action first.
  std::vector<std::vector<LedgerEvent>> events(outcomes.size());
  std::map<std::pair<std::string, DsnAction>, std::vector<size_t>> to_notify;
  const TimePoint now = clock.now();
  for (size_t i = 0; i < outcomes.size(); ++i) {
    Outcome& o = outcomes[i];
    const Entry& entry = o.lane->entries.at(o.recorded.delivery.key());
    apply_operator_requests(entry, o.recorded);
    keep_deliver_by_appointment(*entry.message, o.recorded);
    events[i].push_back(o.recorded.event);
    const std::optional<DsnAction> action =
        notice_action(settings.queue, now, *entry.message, o.recorded);
    if (!action) continue;
    if (*action == DsnAction::delayed) o.recorded.delivery.delay_notified = true;
    const NoticeDecision decision = decide_notice(*entry.message, o.recorded.delivery, *action);
    const auto note = [&](std::string type, std::vector<std::pair<std::string, std::string>> f) {
      f.insert(f.begin(), {"action", std::string(to_string(*action))});
      events[i].push_back(
          LedgerEvent{o.recorded.event.at, std::move(type), o.recorded.delivery.mailbox, f});
    };
    if (decision.verdict == NoticeDecision::Verdict::not_requested) continue;
    if (decision.verdict == NoticeDecision::Verdict::withheld) {
      note("dsn-withheld", {{"reason", decision.reason}});
      continue;
    }
    to_notify[{o.recorded.delivery.message_id, *action}].push_back(i);
  }
  for (const auto& [what, members] : to_notify) {
    Outcome& first = outcomes[members.front()];
    const Entry& entry = first.lane->entries.at(first.recorded.delivery.key());
    const MessageRecord& message = *entry.message;
    std::shared_ptr<const MessageContent> content = first.content;
    if (!content) {
      std::optional<MessageContent> stored = store.content(message.id);
      content = std::make_shared<const MessageContent>(
          stored ? std::move(*stored) : MessageContent::from_text(""));
    }
    std::vector<NoticeItem> items;
    for (size_t i : members) {
      const RecordedAttempt& r = outcomes[i].recorded;
      NoticeFacts facts;
      facts.action = what.second;
      facts.status = r.status;
      facts.remote_mta = outcomes[i].remote_mta;
      facts.reply = r.delivery.last_reply;
      if (what.second == DsnAction::delayed) {
        const RetryBudget& budget = budget_for(budgets, recipient_domain(r.delivery));
        std::optional<TimePoint> until;
        if (budget.max_age) until = message.received_at + *budget.max_age;
        const SchedulingFacts sf = scheduling_facts(message, r.delivery);
        if (sf.expires && (!until || *sf.expires < *until)) until = sf.expires;
        facts.will_retry_until = until;
      }
      items.push_back({r.delivery, std::move(facts)});
    }
    std::optional<NoticeMessage> notice = notice_for(message, *content, items, now);
    for (size_t i : members) {
      const RecordedAttempt& r = outcomes[i].recorded;
      std::vector<std::pair<std::string, std::string>> f{
          {"action", std::string(to_string(what.second))}};
      if (notice) {
        f.emplace_back("dsn_id", notice->record.id);
        f.emplace_back("status", r.status);
      } else {
        f.emplace_back("reason", "no mailbox for the sender <" + message.envelope.mail_from + ">");
      }
      events[i].push_back(LedgerEvent{r.event.at, notice ? "dsn-sent" : "dsn-withheld",
                                      r.delivery.mailbox, std::move(f)});
    }
    if (notice) {
      write.messages.push_back(
          {notice->record, notice->content, notice->deliveries, notice->events});
      settlement.notices.push_back(std::move(*notice));
    }
  }
  for (size_t i = 0; i < outcomes.size(); ++i) {
    write.updates.push_back({outcomes[i].recorded.delivery, std::move(events[i])});
  }
  settlement.outcomes = std::move(outcomes);
  return settlement;
}

void QueueRunner::Impl::settle(Settlement settlement) {
  for (const Outcome& o : settlement.outcomes) {
    Lane& lane = *o.lane;
    const Delivery& d = o.recorded.delivery;
    log_outcome(o.recorded);
    auto it = lane.entries.find(d.key());
    if (it == lane.entries.end()) continue;
    std::shared_ptr<const MessageRecord> message = it->second.message;
    lane.entries.erase(it);
    place(lane, std::move(message), d);
  }
  for (NoticeMessage& notice : settlement.notices) {
    auto message = std::make_shared<const MessageRecord>(std::move(notice.record));
    for (const Delivery& d : notice.deliveries) {
      if (Lane* lane = lane_for(d.transport)) place(*lane, message, d);
    }
  }
}

// An outcome that calls for a DSN waits while other deliveries of its message are still in
// an attempt, so that outcomes of one message decided together go out as one DSN.
bool QueueRunner::Impl::waits_for_siblings(const Outcome& outcome,
                                           const std::set<DeliveryKey>& batch) const {
  const Delivery& d = outcome.recorded.delivery;
  const Entry& entry = outcome.lane->entries.at(d.key());
  const std::optional<DsnAction> action =
      notice_action(settings.queue, clock.now(), *entry.message, outcome.recorded);
  if (!action ||
      decide_notice(*entry.message, d, *action).verdict != NoticeDecision::Verdict::send) {
    return false;
  }
  for (const auto& lane : lanes) {
    for (auto it = lane->entries.lower_bound(DeliveryKey{d.message_id, 0});
         it != lane->entries.end() && it->first.message_id == d.message_id; ++it) {
      if (it->second.busy && !batch.contains(it->first)) return true;
    }
  }
  return false;
}

bool QueueRunner::Impl::write_batch(StoreWrite claims) {
  StoreWrite write = std::move(claims);
  std::set<DeliveryKey> batch;
  for (const Outcome& o : unrecorded) batch.insert(o.recorded.delivery.key());
  std::vector<bool> held(unrecorded.size());
  for (size_t i = 0; i < unrecorded.size(); ++i) held[i] = waits_for_siblings(unrecorded[i], batch);
  std::vector<Outcome> outcomes;
  std::vector<Outcome> held_back;
  for (size_t i = 0; i < unrecorded.size(); ++i) {
    (held[i] ? held_back : outcomes).push_back(std::move(unrecorded[i]));
  }
  unrecorded = std::move(held_back);
  if (outcomes.empty() && write.empty()) return true;
  Settlement settlement;
  try {
    settlement = record(outcomes, write);
    if (!write.empty()) store.apply(write);
  } catch (const StoreError& e) {
    // Nothing was written. The outcomes are tried again, never the attempts: mail a remote
    // server took is not sent again because its record did not fit on the disk.
    write_backoff = write_backoff.count() == 0
                        ? Duration(kFirstWriteBackoff)
                        : std::min<Duration>(write_backoff * 2, Duration(kMaxWriteBackoff));
    next_write_try = clock.now() + write_backoff;
    spdlog::warn("queue: recording {} outcomes failed: {}; trying again in {}s", outcomes.size(),
                 e.what(), std::chrono::duration_cast<std::chrono::seconds>(write_backoff).count());
    for (Outcome& o : outcomes) unrecorded.push_back(std::move(o));
    return false;
  }
  write_backoff = Duration::zero();
  settle(std::move(settlement));
  return true;
}

}  // namespace herald
