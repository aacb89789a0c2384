#include "server/message_report.h"

#include <algorithm>
#include <string>

#include "server/printable_text.h"
#include "store/record_codec.h"  // the to_string of QoS and NOTIFY values
#include "util/time_text.h"

namespace herald {
namespace {

// priority=N  [deliver_by=TIME mode=R|N [trace]]  [ret=FULL|HDRS]  [envid=…]
void write_qos(std::ostream& out, const Qos& q) {
  std::string line = "qos       priority=" + std::to_string(q.priority);
  if (q.deliver_by_mode != DeliverByMode::none) {
    line += "  deliver_by=" + format_utc(q.deliver_by) + "  " +
            field_text("mode", to_string(q.deliver_by_mode));
    if (q.deliver_by_trace) line += "  trace";
  }
  if (q.ret != DsnReturn::unspecified) line += "  " + field_text("ret", to_string(q.ret));
  if (!q.envid.empty()) line += "  " + field_text("envid", q.envid);
  out << line << "\n";
}

// topic=…  qos=N  [retain]  client=…  [expires=TIME]
void write_mqtt(std::ostream& out, const MqttMessageFields& mqtt) {
  out << "mqtt      " << field_text("topic", mqtt.topic) << "  qos=" << int{mqtt.qos}
      << (mqtt.retain ? "  retain" : "") << "  " << field_text("client", mqtt.publisher);
  if (mqtt.expires_at) out << "  expires=" << format_utc(*mqtt.expires_at);
  out << "\n";
}

void write_message_header(std::ostream& out, const MessageRecord& m) {
  const Envelope& e = m.envelope;
  out << "message   " << m.id << "\n"
      << "received  " << format_utc(m.received_at) << "\n"
      << "size      " << m.size << " octets\n";
  if (m.mqtt) {
    write_mqtt(out, *m.mqtt);
  } else {
    std::string to;
    for (const auto& rcpt : e.rcpt_to) to += (to.empty() ? "<" : " <") + printable(rcpt) + ">";
    out << "from      " << sender_text(m) << "\n"
        << "to        " << to << "\n";
  }
  out << "peer      " << printable(e.peer_ip) << ":" << e.peer_port << "  "
      << field_text("helo", e.helo) << "  " << field_text("listener", e.listener) << "  "
      << field_text("protocol", e.protocol) << "\n"
      << "tls       "
      << (e.tls_version.empty() ? std::string("none")
                                : printable(e.tls_version) + " " + printable(e.tls_cipher))
      << "\n";
  if (!e.authenticated_as.empty()) out << "auth      " << printable(e.authenticated_as) << "\n";
  if (!e.body_type.empty()) {
    out << "body      " << printable(e.body_type) << (e.smtputf8 ? "  smtputf8" : "") << "\n";
  }
  write_qos(out, m.qos);
}

// TIME  TYPE  [RECIPIENT]  key=value …, with TYPE and RECIPIENT in aligned columns. One
// message's ledger is small enough to measure before printing.
void write_ledger(std::ostream& out, const std::vector<LedgerEvent>& ledger) {
  size_t type_width = 0;
  size_t recipient_width = 0;
  for (const auto& e : ledger) {
    type_width = std::max(type_width, printable(e.type).size());
    recipient_width = std::max(recipient_width, printable(e.recipient).size());
  }
  for (const auto& e : ledger) {
    std::string line = format_utc(e.at) + "  " + padded(printable(e.type), type_width);
    if (recipient_width > 0) line += "  " + padded(printable(e.recipient), recipient_width);
    for (const auto& [key, value] : e.fields) line += "  " + field_text(key, value);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
}

void write_delivery_summaries(std::ostream& out, const std::vector<Delivery>& deliveries) {
  out << "deliveries\n";
  for (const auto& d : deliveries) {
    std::string who = printable(d.mailbox);
    if (d.mqtt) {
      who = "session " + printable(d.recipient);  // a persistent MQTT session's copy
    } else if (d.recipient != d.mailbox) {
      who = printable(d.recipient) + " -> " + who;
    }
    out << "  " << who << "  " << to_string(d.state) << "  attempts=" << d.attempts;
    if (!is_terminal(d.state)) out << "  next_attempt=" << format_utc(d.next_attempt);
    if (d.held) out << "  held";
    if (d.notify.given) out << "  " << field_text("notify", to_string(d.notify));
    if (!d.original_recipient.empty()) out << "  " << field_text("orcpt", d.original_recipient);
    if (!d.envelope_sender.empty()) out << "  " << field_text("mail_from", d.envelope_sender);
    if (!d.last_reply.empty()) out << "  " << field_text("last_reply", d.last_reply);
    out << "\n";
  }
}

// One delivery in full, a field a line.
void write_delivery_details(std::ostream& out, const Delivery& d) {
  const auto row = [&out](std::string_view name, const std::string& value) {
    out << "  " << padded(std::string(name), 14) << value << "\n";
  };
  out << "delivery " << d.index << "\n";
  row("recipient", printable(d.recipient));
  row("mailbox", printable(d.mailbox));
  row("transport", printable(d.transport));
  row("state", std::string(to_string(d.state)));
  row("held", d.held ? "yes (until herald queue release)" : "no");
  row("attempts", std::to_string(d.attempts));
  if (!is_terminal(d.state)) row("next_attempt", format_utc(d.next_attempt));
  if (d.notify.given) row("notify", std::string(to_string(d.notify)));
  if (!d.original_recipient.empty()) row("orcpt", printable(d.original_recipient));
  if (!d.envelope_sender.empty()) row("mail_from", printable(d.envelope_sender));
  if (d.delay_notified) row("delay_dsn", "sent");
  row("last_reply", d.last_reply.empty() ? "-" : printable(d.last_reply));
}

}  // namespace

std::string sender_text(const MessageRecord& message) {
  return "<" + printable(message.envelope.mail_from) + ">";
}

void write_trace_report(std::ostream& out, const MessageRecord& message,
                        const std::vector<LedgerEvent>& ledger,
                        const std::vector<Delivery>& deliveries) {
  write_message_header(out, message);
  out << "\n";
  write_ledger(out, ledger);
  out << "\n";
  write_delivery_summaries(out, deliveries);
}

void write_show_report(std::ostream& out, const MessageRecord& message,
                       const std::vector<Delivery>& deliveries) {
  write_message_header(out, message);
  for (const Delivery& d : deliveries) {
    out << "\n";
    write_delivery_details(out, d);
  }
}

}  // namespace herald
