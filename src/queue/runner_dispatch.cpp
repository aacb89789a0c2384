// Starting attempts: what each lane's schedule says may start now, claimed in the store
// where the lane claims, handed to its transport with the content; and taking the results
// back.
#include <spdlog/spdlog.h>

#include "queue/queue_policy.h"
#include "queue/runner_core.h"

namespace herald {
namespace {

// At most this many recipients ride one attempt (one SMTP transaction), as Postfix's
// smtp_destination_recipient_limit; RFC 5321 4.5.3.1.8 has servers take at least 100.
constexpr size_t kMaxRecipientsPerAttempt = 50;

}  // namespace

using runner::Attempt;
using runner::Lane;

std::vector<Attempt> QueueRunner::Impl::pick(StoreWrite& write) {
  std::vector<Attempt> attempts;
  const TimePoint now = clock.now();
  const bool space_short = settings.storage_low != nullptr && settings.storage_low->load();
  if (space_short != paused_for_space) {
    paused_for_space = space_short;
    if (space_short) {
      spdlog::warn("queue: local delivery paused: the disk is short of space");
    } else {
      spdlog::info("queue: local delivery resumed: the disk has space again");
    }
  }
  for (auto& lane_ptr : lanes) {
    Lane& lane = *lane_ptr;
    if (space_short && lane.pauses_on_low_storage) continue;
    while (auto due = lane.scheduler.take_ready(now)) {
      Entry& lead = lane.entries.at(due->key);
      if (due->action == Due::Action::expire) {
        make_busy(lane, due->key);
        const std::optional<std::string> reason = expiry_before_attempt(lead.facts, now);
        unrecorded.push_back(
            expired_outcome(lane, lead, reason.value_or("expired before it could be attempted")));
        continue;
      }
      const bool urgent = lead.facts.priority > 0;
      if (lane.attempts >= lane.max_attempts ||
          (!urgent && lane.attempts + lane.reserved_for_urgent >= lane.max_attempts)) {
        // Every attempt slot it may use is taken: it waits as it was.
        lane.scheduler.finished(due->key);
        lane.scheduler.insert(due->key, lead.facts);
        break;
      }
      Attempt attempt{&lane, {due->key}};
      for (const DeliveryKey& key :
           lane.scheduler.take_companions(due->key, now, kMaxRecipientsPerAttempt - 1)) {
        attempt.keys.push_back(key);
      }
      for (const DeliveryKey& key : attempt.keys) {
        Entry& entry = lane.entries.at(key);
        leave_window(lane, entry);
        entry.busy = true;
        if (!lane.claims) continue;
        // Claimed where a failure would put it: a crash mid-attempt reads as one.
        Delivery claimed = entry.delivery;
        claimed.state = DeliveryState::attempting;
        claimed.next_attempt =
            now + backoff_delay(claimed.attempts + 1,
                                budget_for(budgets, recipient_domain(claimed)), 0.0);
        std::vector<LedgerEvent> events;
        if (entry.delivery.state == DeliveryState::attempting) {
          events.push_back(LedgerEvent{now,
                                       "interrupted",
                                       claimed.mailbox,
                                       {{"reason", "heraldd stopped during the last attempt"}}});
        }
        // The entry keeps the delivery as it was: the outcome is recorded from it, and
        // if this write fails it simply waits again.
        write.updates.push_back({std::move(claimed), std::move(events)});
      }
      ++lane.attempts;
      attempts.push_back(std::move(attempt));
    }
  }
  return attempts;
}

void QueueRunner::Impl::start(const Attempt& attempt) {
  Lane& lane = *attempt.lane;
  const Entry& lead = lane.entries.at(attempt.keys.front());
  AttemptRequest request;
  request.message = *lead.message;
  for (const DeliveryKey& key : attempt.keys) {
    request.deliveries.push_back(lane.entries.at(key).delivery);
  }
  std::optional<MessageContent> content;
  try {
    content = store.content(lead.delivery.message_id);
  } catch (const StoreError& e) {
    // The attempt ends at once as a temporary failure: nothing was sent, it is retried.
    AttemptResult later;
    later.outcome = AttemptResult::Outcome::temporary;
    later.reply = std::string("4.3.0 reading the message from the store failed: ") + e.what();
    take_results(
        {&lane, attempt.keys, std::vector<AttemptResult>(attempt.keys.size(), later), nullptr});
    return;
  }
  if (!content) {
    // RFC 3463 X.3.0: the mail system lost what it had accepted; retrying cannot help.
    AttemptResult lost;
    lost.outcome = AttemptResult::Outcome::permanent;
    lost.reply = "5.3.0 message content is missing from the store";
    take_results(
        {&lane, attempt.keys, std::vector<AttemptResult>(attempt.keys.size(), lost), nullptr});
    return;
  }
  request.content = std::make_shared<const MessageContent>(std::move(*content));
  auto shared_content = request.content;
  lane.transport.start(std::move(request), [this, lane = &lane, keys = attempt.keys,
                                            shared_content](std::vector<AttemptResult> results) {
    {
      std::lock_guard lock(inbox_mutex);
      finished.push_back({lane, keys, std::move(results), std::move(shared_content)});
    }
    inbox_wake.notify_one();
  });
}

// The claims of `attempts` were not written (or nothing may be written now): they wait
// again, as they were.
void QueueRunner::Impl::give_back(const std::vector<Attempt>& attempts) {
  for (const Attempt& attempt : attempts) {
    Lane& lane = *attempt.lane;
    lane.scheduler.finished(attempt.keys.front());
    --lane.attempts;
    for (const DeliveryKey& key : attempt.keys) {
      Entry& entry = lane.entries.at(key);
      entry.busy = false;
      wait_in_window(lane, entry);
    }
  }
}

void QueueRunner::Impl::take_results(runner::Finished done) {
  Lane& lane = *done.lane;
  --lane.attempts;
  lane.scheduler.finished(done.keys.front());
  const TimePoint now = clock.now();
  for (size_t i = 0; i < done.keys.size(); ++i) {
    Entry& entry = lane.entries.at(done.keys[i]);
    const AttemptResult& result = done.results.at(i);
    RecordedAttempt recorded =
        record_attempt(entry.delivery, entry.facts, result, now,
                       budget_for(budgets, recipient_domain(entry.delivery)), jitter());
    std::string remote_mta;
    for (const auto& [key, value] : result.fields) {
      if (key == "remote_mta") remote_mta = value;
    }
    unrecorded.push_back({&lane, std::move(recorded), std::move(remote_mta), done.content});
  }
}

}  // namespace herald
