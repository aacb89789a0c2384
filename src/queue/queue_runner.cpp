#include "queue/queue_runner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>

#include "queue/attempt_outcome.h"
#include "queue/queue_policy.h"
#include "queue/scheduler.h"
#include "util/time_text.h"

namespace herald {
namespace {

// Workers wait for the scheduler's next wake-up on the real clock, but re-read the injected
// Clock at least this often: a test's ManualClock moves without waking anyone.
constexpr auto kMaxWait = std::chrono::milliseconds(250);

// At most this many recipients ride one attempt (one SMTP transaction), as Postfix's
// smtp_destination_recipient_limit; RFC 5321 4.5.3.1.8 has servers take at least 100.
constexpr size_t kMaxRecipientsPerAttempt = 50;

// What an operator's bounce records (RFC 3463 X.0.0: other, by the postmaster's choice).
constexpr const char* kReturnedByPostmaster = "5.0.0 returned by the postmaster";

std::string key_text(const DeliveryKey& key) {
  return key.message_id + "/" + std::to_string(key.index);
}

DeliveryKey key_of(const Delivery& d) {
  return DeliveryKey{d.message_id, d.index};
}

double draw_jitter() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(generator);
}

AttemptResult permanent(std::string reply) {
  AttemptResult r;
  r.outcome = AttemptResult::Outcome::permanent;
  r.reply = std::move(reply);
  return r;
}

std::string field(const AttemptResult& result, std::string_view name) {
  for (const auto& [key, value] : result.fields) {
    if (key == name) return value;
  }
  return "";
}

bool matches(const DeliveryKey& key, std::string_view message_id) {
  return message_id.empty() || key.message_id == message_id;
}

}  // namespace

struct QueueRunner::Impl {
  // One transport and the schedule of its deliveries, served by its own workers, so that
  // slow remote servers never hold up local delivery.
  struct Lane {
    Lane(std::string name, Transport& transport, SchedulerConfig config, uint32_t workers)
        : name(std::move(name)),
          transport(transport),
          scheduler(std::move(config)),
          workers(std::max<uint32_t>(workers, 1)) {}
    std::string name;  // the Delivery::transport it carries
    Transport& transport;
    Scheduler scheduler;
    uint32_t workers;
    std::condition_variable wake;
  };

  // A delivery the runner knows: waiting in its lane's scheduler, held, or being attempted.
  struct Entry {
    Delivery delivery;
    SchedulingFacts facts;
    Lane* lane = nullptr;
    bool busy = false;              // a worker or an operator action is recording an outcome for it
    bool hold_requested = false;    // hold() came while it was busy
    bool bounce_requested = false;  // bounce() came while it was busy
  };

  // What an attempt (or expiry, or bounce) leaves behind.
  struct Settled {
    std::optional<Delivery> again;       // to schedule again (not terminal); nullopt when final
    std::vector<NoticeMessage> notices;  // DSNs committed with it, to deliver
  };

  Impl(Store& store, Transport& local, Transport* remote, const Clock& clock,
       QueueRunnerSettings settings)
      : store(store),
        clock(clock),
        settings(std::move(settings)),
        budgets(retry_budgets(this->settings.queue, this->settings.destinations)) {
    const QueueConfig& q = this->settings.queue;
    lanes.push_back(std::make_unique<Lane>("local", local, local_scheduler_config(q),
                                           q.local_delivery_workers));
    if (remote != nullptr) {
      lanes.push_back(std::make_unique<Lane>(
          "smtp", *remote, remote_scheduler_config(q, this->settings.destinations),
          q.remote_delivery_workers));
    }
  }

  Lane* lane_for(const std::string& transport) {
    for (auto& lane : lanes) {
      if (lane->name == transport) return lane.get();
    }
    return nullptr;
  }

  // --- taking deliveries in ------------------------------------------------------------

  // A delivery the runner does not know yet: scheduled, or kept aside when held. Caller
  // holds `mutex`.
  void take_in_locked(const MessageRecord& message, const Delivery& d) {
    if (is_terminal(d.state) || entries.contains(key_of(d))) return;
    Lane* lane = lane_for(d.transport);
    if (lane == nullptr) {
      // It stays pending in the store for a herald that has this transport.
      spdlog::warn("queue: no transport '{}' for delivery {}; left pending", d.transport,
                   key_text(key_of(d)));
      return;
    }
    Entry& entry = entries[key_of(d)];
    entry.delivery = d;
    entry.facts = scheduling_facts(message, d);
    entry.lane = lane;
    if (!d.held) schedule_locked(key_of(d), entry);
  }

  void schedule_locked(const DeliveryKey& key, Entry& entry) {
    entry.lane->scheduler.insert(key, entry.facts);
    entry.lane->wake.notify_one();
  }

  // --- the workers ---------------------------------------------------------------------

  void work(Lane& lane) {
    std::unique_lock lock(mutex);
    while (!stopping) {
      const std::optional<Due> due = lane.scheduler.take_ready(clock.now());
      if (!due) {
        wait_locked(lane, lock);
        continue;
      }
      const bool attempt = due->action == Due::Action::attempt;
      auto it = entries.find(due->key);
      // Held, bounced or being recorded by an operator since it was scheduled: its slot
      // goes back at once.
      if (it == entries.end() || it->second.busy || it->second.delivery.held) {
        if (attempt) lane.scheduler.finished(due->key);
        continue;
      }
      if (!attempt) {
        it->second.busy = true;
        const Delivery delivery = it->second.delivery;
        lock.unlock();
        Settled settled = run_expiry(delivery);
        lock.lock();
        settle_locked(due->key, std::move(settled));
        continue;
      }
      const std::vector<DeliveryKey> keys = claim_group_locked(lane, due->key);
      std::vector<Delivery> group;
      std::vector<SchedulingFacts> facts;
      for (const DeliveryKey& key : keys) {
        group.push_back(entries.at(key).delivery);
        facts.push_back(entries.at(key).facts);
      }
      lock.unlock();
      std::vector<Settled> settled = run_attempts(lane, group, facts);
      lock.lock();
      lane.scheduler.finished(due->key);
      for (size_t i = 0; i < keys.size(); ++i) settle_locked(keys[i], std::move(settled[i]));
    }
  }

  // `lead` and the deliveries of the same message, destination and envelope sender that are due
  // with it, marked busy: one attempt carries them all (one SMTP transaction, many RCPTs).
  std::vector<DeliveryKey> claim_group_locked(Lane& lane, const DeliveryKey& lead) {
    std::vector<DeliveryKey> keys{lead};
    entries.at(lead).busy = true;
    for (const DeliveryKey& key :
         lane.scheduler.take_companions(lead, clock.now(), kMaxRecipientsPerAttempt - 1)) {
      auto it = entries.find(key);
      // Out of the schedule either way: a held one waits for release, a busy one is an
      // operator's, who schedules it again.
      if (it == entries.end() || it->second.busy || it->second.delivery.held) continue;
      it->second.busy = true;
      keys.push_back(key);
    }
    return keys;
  }

  void wait_locked(Lane& lane, std::unique_lock<std::mutex>& lock) {
    const std::optional<TimePoint> next = lane.scheduler.next_wakeup();
    Duration wait = kMaxWait;
    if (next)
      wait = std::clamp<Duration>(*next - clock.now(), std::chrono::milliseconds(1), kMaxWait);
    lane.wake.wait_for(lock, wait);
  }

  // After an outcome was recorded: the delivery waits again, or is done; DSNs it produced
  // join their lanes.
  void settle_locked(const DeliveryKey& key, Settled settled) {
    auto it = entries.find(key);
    if (it != entries.end()) {
      Entry& entry = it->second;
      entry.busy = false;
      if (settled.again) {
        entry.delivery = *settled.again;
        entry.facts.next_attempt = entry.delivery.next_attempt;
        entry.facts.attempts = entry.delivery.attempts;
        entry.hold_requested = false;
        if (!entry.delivery.held) schedule_locked(key, entry);
      } else {
        entries.erase(it);
      }
    }
    for (const NoticeMessage& notice : settled.notices) {
      for (const Delivery& d : notice.deliveries) take_in_locked(notice.record, d);
    }
    for (auto& lane : lanes) lane->wake.notify_one();
  }

  // --- one attempt ---------------------------------------------------------------------

  // One attempt at deliveries of one message (most often just one), and the record of each
  // outcome.
  std::vector<Settled> run_attempts(Lane& lane, const std::vector<Delivery>& group,
                                    const std::vector<SchedulingFacts>& facts) {
    const Delivery& lead = group.front();
    std::optional<MessageRecord> message;
    std::optional<std::string> content;
    try {
      message = store.message(lead.message_id);
      if (message) content = store.content(lead.message_id);
    } catch (const StoreError& e) {
      std::vector<Settled> later;
      for (const Delivery& d : group) later.push_back(retry_after_store_error(d, e));
      return later;
    }
    if (!message) {
      spdlog::error("queue: delivery {} belongs to no stored message; dropped from the queue",
                    key_text(key_of(lead)));
      return std::vector<Settled>(group.size());
    }
    // RFC 3463 X.3.0: the mail system lost what it had accepted; retrying cannot help.
    const std::vector<AttemptResult> results =
        content ? transport_attempt(lane, *message, group, *content)
                : std::vector<AttemptResult>(
                      group.size(), permanent("5.3.0 message content is missing from the store"));
    std::vector<Settled> settled;
    for (size_t i = 0; i < group.size(); ++i) {
      const Delivery& d = group[i];
      try {
        RecordedAttempt recorded =
            record_attempt(d, facts[i], results[i], clock.now(),
                           budget_for(budgets, recipient_domain(d)), draw_jitter());
        apply_operator_requests(recorded);
        keep_deliver_by_appointment(*message, recorded);
        settled.push_back(record(*message, content.value_or(""), std::move(recorded),
                                 field(results[i], "remote_mta")));
      } catch (const StoreError& e) {
        settled.push_back(retry_after_store_error(d, e));
      }
    }
    return settled;
  }

  Settled run_expiry(const Delivery& d) {
    try {
      const auto message = store.message(d.message_id);
      if (!message) return {};
      const auto content = store.content(d.message_id);
      const std::optional<std::string> reason =
          expiry_before_attempt(scheduling_facts(*message, d), clock.now());
      return record(
          *message, content.value_or(""),
          record_expiry(d, reason.value_or("expired before it could be attempted"), clock.now()),
          "");
    } catch (const StoreError& e) {
      return retry_after_store_error(d, e);
    }
  }

  // Still pending in the store, so nothing is lost; the whole attempt happens again later
  // (the local transport is idempotent; a remote one may deliver twice, as RFC 5321 6.1
  // prefers to a loss).
  Settled retry_after_store_error(const Delivery& d, const StoreError& e) {
    spdlog::warn("queue: delivery {}: {}; will try again", key_text(key_of(d)), e.what());
    Delivery later = d;
    later.next_attempt = clock.now() + backoff_delay(1, budgets.defaults, draw_jitter());
    return Settled{later, {}};
  }

  std::vector<AttemptResult> transport_attempt(Lane& lane, const MessageRecord& message,
                                               const std::vector<Delivery>& group,
                                               std::string_view content) {
    try {
      std::vector<AttemptResult> results =
          group.size() == 1
              ? std::vector<AttemptResult>{lane.transport.attempt(message, group.front(), content)}
              : lane.transport.attempt_together(message, group, content);
      if (results.size() == group.size()) return results;
      throw std::logic_error("the transport answered for " + std::to_string(results.size()) +
                             " of " + std::to_string(group.size()) + " deliveries");
    } catch (const std::exception& e) {
      AttemptResult r;
      r.outcome = AttemptResult::Outcome::temporary;
      r.reply = "4.3.0 " + lane.name + " delivery failed: " + e.what();
      return std::vector<AttemptResult>(group.size(), r);
    }
  }

  // hold() or bounce() arrived while the attempt ran: a delivery that is not finished by
  // the attempt takes the operator's decision now.
  void apply_operator_requests(RecordedAttempt& recorded) {
    bool hold_it = false, bounce_it = false;
    {
      std::lock_guard lock(mutex);
      const Entry& entry = entries.at(key_of(recorded.delivery));
      hold_it = entry.hold_requested;
      bounce_it = entry.bounce_requested;
    }
    if (recorded.delivery.state != DeliveryState::deferred) return;
    if (bounce_it) {
      returned_by_postmaster(recorded);
    } else if (hold_it) {
      recorded.delivery.held = true;
      recorded.event.fields.emplace_back("held", "by the postmaster");
    }
  }

  static void returned_by_postmaster(RecordedAttempt& recorded) {
    recorded.delivery.state = DeliveryState::bounced;
    recorded.delivery.last_reply = kReturnedByPostmaster;
    recorded.event.type = "bounced";
    recorded.event.fields = {{"reply", kReturnedByPostmaster},
                             {"attempt", std::to_string(recorded.delivery.attempts)}};
    recorded.status = "5.0.0";
  }

  // RFC 2852 4 mode N: the sender hears when the deliver-by time passes, so a retry due
  // after it happens at it instead, and its failure sends the delay notice.
  static void keep_deliver_by_appointment(const MessageRecord& message, RecordedAttempt& recorded) {
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

  // --- recording an outcome and its notices --------------------------------------------

  // Commits the DSNs the outcome calls for, then the outcome with its ledger events, in
  // that order: a crash between the two leaves the delivery pending, to be attempted (and
  // reported) again — a second DSN rather than none.
  Settled record(const MessageRecord& message, std::string_view content, RecordedAttempt recorded,
                 const std::string& remote_mta) {
    Settled settled;
    std::vector<LedgerEvent> events{recorded.event};
    const std::optional<DsnAction> action = notice_action(message, recorded);
    if (action) {
      if (*action == DsnAction::delayed) recorded.delivery.delay_notified = true;
      notify(message, content, recorded, *action, remote_mta, events, settled.notices);
    }
    store.update_delivery(recorded.delivery, events);
    log_outcome(recorded);
    if (!is_terminal(recorded.delivery.state)) settled.again = recorded.delivery;
    return settled;
  }

  // Which DSN an outcome is about, if any: failures and successes always; a delay once,
  // when the delay warning time or a deliver-by time in mode N has passed.
  std::optional<DsnAction> notice_action(const MessageRecord& message,
                                         const RecordedAttempt& recorded) const {
    const Delivery& d = recorded.delivery;
    switch (d.state) {
      case DeliveryState::bounced:
      case DeliveryState::expired:
        return DsnAction::failed;
      case DeliveryState::delivered:
        if (d.transport == "local") return DsnAction::delivered;
        // RFC 3461 5.2.1 and 5.2.2: a next hop that offers DSN took the sender's NOTIFY with
        // the message and reports success itself; one that does not gets it said for it,
        // as "relayed".
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
    const TimePoint now = clock.now();
    const auto warning = settings.queue.delay_warning;
    const bool warning_due = warning.count() > 0 && now >= message.received_at + warning;
    const bool deadline_passed = message.qos.deliver_by_mode == DeliverByMode::notify_if_late &&
                                 now >= message.qos.deliver_by;
    if (warning_due || deadline_passed) return DsnAction::delayed;
    return std::nullopt;
  }

  void notify(const MessageRecord& message, std::string_view content,
              const RecordedAttempt& recorded, DsnAction action, const std::string& remote_mta,
              std::vector<LedgerEvent>& events, std::vector<NoticeMessage>& notices) {
    const Delivery& d = recorded.delivery;
    const TimePoint now = recorded.event.at;
    const NoticeDecision decision = decide_notice(message, d, action);
    const auto note = [&](std::string type, std::vector<std::pair<std::string, std::string>> f) {
      f.insert(f.begin(), {"action", std::string(to_string(action))});
      events.push_back(LedgerEvent{now, std::move(type), d.mailbox, std::move(f)});
    };
    if (decision.verdict == NoticeDecision::Verdict::not_requested) return;
    if (decision.verdict == NoticeDecision::Verdict::withheld) {
      note("dsn-withheld", {{"reason", decision.reason}});
      return;
    }
    NoticeFacts facts;
    facts.action = action;
    facts.status = recorded.status;
    facts.remote_mta = remote_mta;
    facts.reply = d.last_reply;
    if (action == DsnAction::delayed) facts.will_retry_until = retry_until(message, d);
    std::optional<NoticeMessage> notice =
        build_notice(message, content, d, facts, settings.hostname, now, settings.route);
    if (!notice) {
      note("dsn-withheld",
           {{"reason", "no mailbox for the sender <" + message.envelope.mail_from + ">"}});
      return;
    }
    store.commit_message(notice->record, notice->content, notice->deliveries, notice->events);
    note("dsn-sent", {{"dsn_id", notice->record.id}, {"status", recorded.status}});
    notices.push_back(std::move(*notice));
  }

  // RFC 3464 2.3.9 Will-Retry-Until: the end of the retry budget, or the hard stop if sooner.
  std::optional<TimePoint> retry_until(const MessageRecord& message, const Delivery& d) const {
    const RetryBudget& budget = budget_for(budgets, recipient_domain(d));
    std::optional<TimePoint> until;
    if (budget.max_age) until = message.received_at + *budget.max_age;
    const SchedulingFacts facts = scheduling_facts(message, d);
    if (facts.expires && (!until || *facts.expires < *until)) until = facts.expires;
    return until;
  }

  static void log_outcome(const RecordedAttempt& recorded) {
    const Delivery& d = recorded.delivery;
    spdlog::info("queue: {} msg={} rcpt={} transport={} attempt={} reply=\"{}\"",
                 recorded.event.type, d.message_id, d.mailbox, d.transport, d.attempts,
                 d.last_reply);
  }

  // --- operator actions ----------------------------------------------------------------

  // The known deliveries of `message_id` (all when empty) that `pick` accepts, each marked
  // busy so that no worker starts on it while the action records its change. Those already
  // busy (an attempt under way) are passed to `request` instead, to be decided when the
  // attempt ends; `claimed_busy` counts them.
  template <class Pick, class Request>
  std::vector<std::pair<DeliveryKey, Delivery>> claim(std::string_view message_id, Pick pick,
                                                      Request request, size_t& claimed_busy) {
    std::lock_guard lock(mutex);
    std::vector<std::pair<DeliveryKey, Delivery>> claimed;
    for (auto& [key, entry] : entries) {
      if (!matches(key, message_id) || !pick(entry)) continue;
      if (entry.busy) {
        request(entry);
        ++claimed_busy;
        continue;
      }
      entry.busy = true;
      claimed.emplace_back(key, entry.delivery);
    }
    return claimed;
  }

  // For an id no delivery of which is known: 0 when the message is stored, else nullopt.
  std::optional<size_t> none_or_unknown(std::string_view message_id) {
    if (message_id.empty() || store.message(message_id)) return 0;
    return std::nullopt;
  }

  LedgerEvent operator_event(const Delivery& d, std::string_view type) const {
    return LedgerEvent{clock.now(), std::string(type), d.mailbox, {{"by", "postmaster"}}};
  }

  std::optional<size_t> retry(std::string_view message_id) {
    size_t count = 0;
    {
      std::lock_guard lock(mutex);
      const TimePoint now = clock.now();
      for (auto& [key, entry] : entries) {
        if (!matches(key, message_id) || entry.busy || entry.delivery.held) continue;
        entry.delivery.next_attempt = now;
        entry.facts.next_attempt = now;
        schedule_locked(key, entry);
        ++count;
      }
    }
    if (count == 0) return none_or_unknown(message_id);
    if (!message_id.empty()) {
      store.append_event(message_id, LedgerEvent{clock.now(), "retry", "", {{"by", "postmaster"}}});
    }
    return count;
  }

  std::optional<size_t> hold(std::string_view message_id) {
    size_t count = 0;
    const auto claimed = claim(
        message_id, [](const Entry& e) { return !e.delivery.held; },
        [](Entry& e) { e.hold_requested = true; }, count);
    change_each(claimed, [&](Delivery& d) {
      d.held = true;
      store.update_delivery(d, operator_event(d, "held"));
    });
    count += claimed.size();
    if (count == 0) return none_or_unknown(message_id);
    return count;
  }

  std::optional<size_t> release(std::string_view message_id) {
    size_t busy = 0;  // a held delivery is never being attempted
    const auto claimed = claim(
        message_id, [](const Entry& e) { return e.delivery.held; }, [](Entry&) {}, busy);
    change_each(claimed, [&](Delivery& d) {
      d.held = false;
      d.next_attempt = clock.now();
      store.update_delivery(d, operator_event(d, "released"));
    });
    if (claimed.empty()) return none_or_unknown(message_id);
    return claimed.size();
  }

  std::optional<size_t> bounce(std::string_view message_id) {
    size_t count = 0;
    const auto claimed = claim(
        message_id, [](const Entry&) { return true; }, [](Entry& e) { e.bounce_requested = true; },
        count);
    for (const auto& [key, delivery] : claimed) {
      Settled settled;
      try {
        settled = bounce_now(delivery);
      } catch (const StoreError&) {
        std::lock_guard lock(mutex);
        release_claims_locked(claimed);
        throw;
      }
      std::lock_guard lock(mutex);
      settle_locked(key, std::move(settled));
    }
    count += claimed.size();
    if (count == 0) return none_or_unknown(message_id);
    return count;
  }

  Settled bounce_now(const Delivery& d) {
    const auto message = store.message(d.message_id);
    if (!message) return {};
    const auto content = store.content(d.message_id);
    RecordedAttempt recorded{d, LedgerEvent{clock.now(), "bounced", d.mailbox, {}}, "5.0.0"};
    returned_by_postmaster(recorded);
    recorded.delivery.attempts = d.attempts;  // no attempt was made
    recorded.event.fields = {{"reply", kReturnedByPostmaster}, {"by", "postmaster"}};
    return record(*message, content.value_or(""), std::move(recorded), "");
  }

  // Applies `change` (which writes to the store) to each claimed delivery and puts it back
  // in the schedule, or aside when held. On a StoreError the rest stay unchanged.
  template <class Change>
  void change_each(const std::vector<std::pair<DeliveryKey, Delivery>>& claimed, Change change) {
    std::vector<std::pair<DeliveryKey, Delivery>> done;
    try {
      for (const auto& [key, delivery] : claimed) {
        Delivery changed = delivery;
        change(changed);
        done.emplace_back(key, changed);
      }
    } catch (const StoreError&) {
      std::lock_guard lock(mutex);
      apply_locked(done);
      release_claims_locked(claimed);
      throw;
    }
    std::lock_guard lock(mutex);
    apply_locked(done);
  }

  void apply_locked(const std::vector<std::pair<DeliveryKey, Delivery>>& changed) {
    for (const auto& [key, delivery] : changed) {
      Entry& entry = entries.at(key);
      entry.busy = false;
      entry.delivery = delivery;
      entry.facts.next_attempt = delivery.next_attempt;
      if (!delivery.held) schedule_locked(key, entry);
    }
  }

  void release_claims_locked(const std::vector<std::pair<DeliveryKey, Delivery>>& claimed) {
    for (const auto& [key, delivery] : claimed) {
      auto it = entries.find(key);
      if (it != entries.end()) it->second.busy = false;
    }
  }

  Store& store;
  const Clock& clock;
  const QueueRunnerSettings settings;
  const RetryBudgets budgets;
  std::vector<std::unique_ptr<Lane>> lanes;

  std::mutex mutex;  // guards everything below and the lanes' schedulers
  std::map<DeliveryKey, Entry> entries;
  std::set<DeliveryKey> resumed;  // keys start() loaded from the store
  bool stopping = false;
  std::vector<std::thread> workers;
};

QueueRunner::QueueRunner(Store& store, Transport& local, Transport* remote, const Clock& clock,
                         QueueRunnerSettings settings)
    : impl_(std::make_unique<Impl>(store, local, remote, clock, std::move(settings))) {}

QueueRunner::~QueueRunner() {
  stop();
}

void QueueRunner::start() {
  if (!impl_->workers.empty()) throw std::logic_error("QueueRunner::start called twice");
  // Restart recovery: whatever the store holds as not final is attempted again, at its
  // recorded next_attempt time; held deliveries stay held.
  const std::vector<Delivery> pending = impl_->store.pending_deliveries();
  std::map<std::string, MessageRecord> messages;
  for (const Delivery& d : pending) {
    if (messages.contains(d.message_id)) continue;
    if (auto m = impl_->store.message(d.message_id)) messages.emplace(d.message_id, *m);
  }
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = false;
    for (const Delivery& d : pending) {
      const auto m = messages.find(d.message_id);
      if (m == messages.end()) {
        spdlog::error("queue: pending delivery {} belongs to no stored message; skipped",
                      key_text(key_of(d)));
        continue;
      }
      impl_->resumed.insert(key_of(d));
      impl_->take_in_locked(m->second, d);
    }
  }
  spdlog::info("queue: {} pending deliveries resumed", pending.size());
  for (auto& lane : impl_->lanes) {
    for (uint32_t i = 0; i < lane->workers; ++i) {
      impl_->workers.emplace_back([this, lane = lane.get()] { impl_->work(*lane); });
    }
  }
}

void QueueRunner::enqueue(const MessageRecord& message, const std::vector<Delivery>& deliveries) {
  std::lock_guard lock(impl_->mutex);
  for (const Delivery& d : deliveries) {
    // A commit that finished before start() was loaded there; handed over again now, it
    // might already have been attempted and recorded.
    if (!impl_->resumed.contains(key_of(d))) impl_->take_in_locked(message, d);
  }
}

void QueueRunner::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  for (auto& lane : impl_->lanes) lane->wake.notify_all();
  for (auto& worker : impl_->workers) worker.join();
  impl_->workers.clear();
}

std::optional<size_t> QueueRunner::retry(std::string_view message_id) {
  return impl_->retry(message_id);
}
std::optional<size_t> QueueRunner::hold(std::string_view message_id) {
  return impl_->hold(message_id);
}
std::optional<size_t> QueueRunner::release(std::string_view message_id) {
  return impl_->release(message_id);
}
std::optional<size_t> QueueRunner::bounce(std::string_view message_id) {
  return impl_->bounce(message_id);
}

}  // namespace herald
