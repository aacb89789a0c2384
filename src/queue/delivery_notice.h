// Delivery status notifications as the queue sends them (DESIGN.md promise 3, RFC 3461 and
// RFC 3464): whether an outcome calls for one, and the DSN as a message of its own, ready to
// be committed and delivered like any other. The bytes come from mime/dsn.h.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mime/dsn.h"
#include "mime/message_content.h"
#include "store/records.h"

namespace herald {

// What an outcome calls for.
struct NoticeDecision {
  enum class Verdict {
    not_requested,  // the sender did not ask (RFC 3461 4.1 NOTIFY): nothing is recorded
    withheld,       // asked for, but not sent; `reason` goes into a dsn-withheld event
    send,
  };
  Verdict verdict = Verdict::not_requested;
  std::string reason;
};

// RFC 3461 4.1: NOTIFY names the outcomes the sender hears of; without NOTIFY herald reports
// failures and delays, not successes. A message with the null reverse-path is itself a
// notification and never gets one (RFC 5321 4.5.5, mime/dsn.h may_notify). No backscatter
// (DESIGN.md promise 3): only a sender who authenticated, or whose domain vouched for the
// message (Envelope::sender_verified), hears of what happened after the 250; for anyone
// else the address may be forged, and the DSN would hit an innocent party.
NoticeDecision decide_notice(const MessageRecord& message, const Delivery& delivery,
                             DsnAction action);

// Where mail to an address goes: a local mailbox ("local", the canonical address) or a
// remote address ("smtp"). Empty when the address is in a local domain but nobody's.
struct NoticeTarget {
  std::string transport;
  std::string mailbox;
};
using NoticeRouter = std::function<std::vector<NoticeTarget>(std::string_view address)>;

// One outcome being reported.
struct NoticeFacts {
  DsnAction action = DsnAction::failed;
  std::string status;                         // RFC 3463 code
  std::string remote_mta;                     // the server that answered; empty for local outcomes
  std::string reply;                          // the reply or reason recorded for the delivery
  std::optional<TimePoint> will_retry_until;  // for `delayed`
};

// A DSN as records for the store: a message with the null sender, its deliveries to the
// original sender and its `received` and `queued` events.
struct NoticeMessage {
  MessageRecord record;
  std::string content;
  std::vector<Delivery> deliveries;
  std::vector<LedgerEvent> events;
};

// One recipient a DSN reports on: its delivery (as recorded with the outcome) and the facts.
struct NoticeItem {
  Delivery delivery;
  NoticeFacts facts;
};

// The DSN about `items` (at least one; deliveries of `message` with one action, RFC 3464
// 2.3: one report may carry many recipients) of `message`, whose stored `content` it quotes
// as RET asks (a message above `max_returned_size` by its header section only, said in the
// human-readable part), from `reporting_mta`, at `now`. nullopt when the router has nowhere to send
// it. The DSN keeps the original's priority, so that urgent mail also fails urgently. Pure
// apart from the fresh message id and reading the body pieces it returns (build_dsn: it
// blocks on them and throws ContentReadError).
std::optional<NoticeMessage> build_notice(const MessageRecord& message,
                                          const MessageContent& content,
                                          const std::vector<NoticeItem>& items,
                                          const std::string& reporting_mta,
                                          size_t max_returned_size, TimePoint now,
                                          const NoticeRouter& route);

}  // namespace herald
