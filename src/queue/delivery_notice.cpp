#include "queue/delivery_notice.h"

#include <stdexcept>

#include "mime/xtext.h"
#include "util/message_id.h"

namespace herald {
namespace {

bool requested(const NotifyRequest& notify, DsnAction action) {
  switch (action) {
    case DsnAction::delivered:
    case DsnAction::relayed:
    case DsnAction::expanded:
      return notify.given && notify.success;
    case DsnAction::failed:
      return !notify.given || notify.failure;
    case DsnAction::delayed:
      return !notify.given || notify.delay;
  }
  return false;
}

// RFC 3464 2.3.2 wants ORCPT as it came: "addr-type;" then the address in xtext. The
// delivery keeps it decoded.
std::string orcpt_field(const std::string& original_recipient) {
  const auto semicolon = original_recipient.find(';');
  if (semicolon == std::string::npos) return "";
  return original_recipient.substr(0, semicolon + 1) +
         xtext_encode(std::string_view(original_recipient).substr(semicolon + 1));
}

// RFC 3464 2.3.6: the diagnostic is the remote server's reply, typed "smtp"; herald's own
// reasons are not SMTP replies and stay out of it (the human part and Status carry them).
std::string diagnostic_code(const NoticeFacts& facts) {
  if (facts.remote_mta.empty() || facts.reply.size() < 4) return "";
  return "smtp; " + facts.reply;
}

DsnOriginal original_of(const MessageRecord& message, const MessageContent& content) {
  DsnOriginal original;
  original.envelope_sender = message.envelope.mail_from;
  original.arrival = message.received_at;
  original.content = &content;
  original.body_type = message.envelope.body_type;
  original.smtputf8 = message.envelope.smtputf8;
  original.ret = message.qos.ret;
  original.envid = message.qos.envid.empty() ? "" : xtext_encode(message.qos.envid);
  return original;
}

DsnRecipient dsn_recipient(const NoticeItem& item, TimePoint now) {
  const Delivery& delivery = item.delivery;
  DsnRecipient recipient;
  recipient.final_recipient = delivery.mailbox;
  recipient.orcpt = orcpt_field(delivery.original_recipient);
  recipient.action = item.facts.action;
  recipient.status = item.facts.status;
  recipient.remote_mta = item.facts.remote_mta;
  recipient.diagnostic_code = diagnostic_code(item.facts);
  if (delivery.attempts > 0) recipient.last_attempt = now;
  recipient.will_retry_until = item.facts.will_retry_until;
  return recipient;
}

std::string mailboxes_of(const std::vector<NoticeItem>& items) {
  std::string out;
  for (const NoticeItem& item : items) {
    if (!out.empty()) out += ",";
    out += item.delivery.mailbox;
  }
  return out;
}

}  // namespace

NoticeDecision decide_notice(const MessageRecord& message, const Delivery& delivery,
                             DsnAction action) {
  if (!requested(delivery.notify, action)) return {};
  if (!may_notify(message.envelope.mail_from)) {
    return {NoticeDecision::Verdict::withheld,
            "the message has the null reverse-path (RFC 5321 4.5.5)"};
  }
  if (message.envelope.authenticated_as.empty() && !message.envelope.sender_verified) {
    return {NoticeDecision::Verdict::withheld,
            "sender neither authenticated nor verified (no backscatter)"};
  }
  return {NoticeDecision::Verdict::send, ""};
}

std::optional<NoticeMessage> build_notice(const MessageRecord& message,
                                          const MessageContent& content,
                                          const std::vector<NoticeItem>& items,
                                          const std::string& reporting_mta,
                                          size_t max_returned_size, TimePoint now,
                                          const NoticeRouter& route) {
  if (items.empty()) throw std::invalid_argument("a DSN reports on at least one recipient");
  const std::string& sender = message.envelope.mail_from;
  const std::vector<NoticeTarget> targets = route(sender);
  if (targets.empty()) return std::nullopt;

  NoticeMessage notice;
  DsnRequest request;
  request.reporting_mta = reporting_mta;
  request.id = new_message_id(now);
  request.now = now;
  request.max_returned_size = max_returned_size;
  for (const NoticeItem& item : items) request.recipients.push_back(dsn_recipient(item, now));
  const DsnMessage dsn = build_dsn(original_of(message, content), request);

  MessageRecord& r = notice.record;
  r.id = request.id;
  r.received_at = now;
  r.size = dsn.content.size();
  r.envelope.mail_from = dsn.envelope_sender;
  r.envelope.rcpt_to = {sender};
  r.envelope.helo = reporting_mta;
  r.envelope.listener = "dsn";
  r.envelope.protocol = "local";
  r.envelope.body_type = dsn.needs_8bitmime ? "8BITMIME" : "7BIT";
  r.envelope.smtputf8 = dsn.needs_smtputf8;
  r.qos.priority = message.qos.priority;
  notice.content = dsn.content;

  notice.events.push_back(
      LedgerEvent{now,
                  "received",
                  "",
                  {{"dsn_for", message.id},
                   {"action", std::string(to_string(items.front().facts.action))},
                   {"recipient", mailboxes_of(items)},
                   {"size", std::to_string(r.size)}}});
  for (const NoticeTarget& target : targets) {
    Delivery d;
    d.message_id = r.id;
    d.index = static_cast<uint32_t>(notice.deliveries.size());
    d.recipient = sender;
    d.mailbox = target.mailbox;
    d.transport = target.transport;
    d.next_attempt = now;
    d.priority = r.qos.priority;
    // RFC 3461 4.1: nobody is notified about a notification.
    d.notify.given = true;
    notice.events.push_back(
        LedgerEvent{now,
                    "queued",
                    sender,
                    {{target.transport == "local" ? "mailbox" : "relay_to", target.mailbox}}});
    notice.deliveries.push_back(std::move(d));
  }
  return notice;
}

}  // namespace herald
