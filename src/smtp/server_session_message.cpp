// From the received content to the commit: the records of the message, the sender checks'
// verdict, the ARC seal, and the answer to the end of data.

#include <fmt/format.h>

#include <algorithm>

#include "mime/from_domain.h"
#include "mime/header.h"
#include "smtp/identity_policy.h"
#include "smtp/received_header.h"
#include "smtp/server_session.h"
#include "smtp/server_session_steps.h"

namespace herald {
namespace {

using session_steps::answer;
using session_steps::work;

std::string bracketed(const Path& path) {
  return "<" + path.address() + ">";
}

}  // namespace

// Builds the records of the message; the connection commits them and then reports back.
SessionStep ServerSession::accept_content() {
  if (std::optional<Reply> refusal = refuse_unowned_header_addresses()) {
    start_over(State::greeted);
    return answer(std::move(*refusal));
  }
  const TimePoint now = clock_.now();
  AcceptedMessage m;
  m.record.id = transaction_.message_id;
  m.record.received_at = now;

  Envelope& e = m.record.envelope;
  e.mail_from = transaction_.reverse_path.address();
  for (const Recipient& recipient : transaction_.recipients) {
    e.rcpt_to.push_back(recipient.address);
  }
  e.helo = helo_;
  e.peer_ip = peer_.ip;
  e.peer_port = peer_.port;
  e.listener = settings_.listener;
  e.authenticated_as = authenticated_as_;
  e.protocol = with_protocol();
  if (tls_) {
    e.tls_version = tls_->version;
    e.tls_cipher = tls_->cipher;
  }
  e.body_type = transaction_.parameters.body == BodyType::eight_bit_mime ? "8BITMIME" : "7BIT";
  e.smtputf8 = transaction_.parameters.smtputf8;

  const ReceivedFields received{
      .helo = helo_,
      .peer_ip = peer_.ip,
      .hostname = settings_.hostname,
      .protocol = e.protocol,
      .id = m.record.id,
      .tls_version = e.tls_version,
      .tls_cipher = e.tls_cipher,
      .single_recipient = e.rcpt_to.size() == 1 ? e.rcpt_to.front() : std::string(),
      .at = now,
  };
  // RFC 5321 4.4: the trace header goes at the top of the content, before all others.
  // RFC 8601 5: an Authentication-Results field naming this server that came with the
  // message is a forgery (or a loop); it goes before anyone can believe it.
  DataReader& reader = *transaction_.reader;
  m.content = ContentToCommit(std::move(reader.header()), reader.pieces_taken(),
                              reader.octets_taken(), std::move(reader.body_rest()));
  m.charge = std::move(reader.charge());
  remove_own_authentication_results(m.content.header, settings_.hostname);
  m.content.header.insert(0, received_header(received));
  m.record.size = m.content.size();

  m.events.push_back(LedgerEvent{now,
                                 "received",
                                 "",
                                 {{"peer", peer_.ip},
                                  {"helo", helo_},
                                  {"tls", tls_ ? tls_->version + " " + tls_->cipher : "no"},
                                  {"size", std::to_string(m.record.size)},
                                  {"from", bracketed(transaction_.reverse_path)},
                                  {"listener", settings_.listener}}});
  if (!authenticated_as_.empty()) m.events.front().fields.emplace_back("auth", authenticated_as_);
  if (trusted_network_) m.events.front().fields.emplace_back("trusted_network", "yes");
  m.record.qos = message_qos(now, m.events.front());
  for (const Target& target : transaction_.targets) {
    const Recipient& recipient = transaction_.recipients[target.recipient];
    Delivery d;
    d.message_id = m.record.id;
    d.index = static_cast<uint32_t>(m.deliveries.size());
    d.recipient = recipient.address;
    d.mailbox = target.address;
    d.transport = target.remote ? "smtp" : "local";
    d.next_attempt = now;
    d.priority = m.record.qos.priority;
    // RFC 3461 4.1, 4.2: every mailbox a RCPT expands to answers to that RCPT's request.
    d.notify = recipient.parameters.notify;
    d.original_recipient = recipient.parameters.original_recipient;
    LedgerEvent queued{now,
                       "queued",
                       recipient.address,
                       {{target.remote ? "relay_to" : "mailbox", target.address}}};
    if (!target.forwarded_by.empty()) forward_with_srs(target, now, d, queued);
    m.events.push_back(std::move(queued));
    m.deliveries.push_back(std::move(d));
  }
  accepted_ = std::move(m);
  if (!authenticated_as_.empty()) {
    // RFC 8601 2.7.4: what the submission server itself verified.
    add_authentication_results({{"auth", "pass", "", {{"smtp.auth", authenticated_as_}}}});
  }
  if (verifies_sender()) return work(SessionStep::Next::check_message);
  return work(SessionStep::Next::commit);
}

// RFC 6409 8.1 lets a submission server check that the author is the user; herald requires it
// for every address of From (RFC 5322 3.6.2: there may be several) and for Sender, by the rule
// MAIL FROM follows (Directory::may_send_as). Outbound DKIM signing signs only what herald
// accepted, so this is what keeps it from signing another user's or another domain's mail.
std::optional<Reply> ServerSession::refuse_unowned_header_addresses() const {
  if (!settings_.submission) return std::nullopt;
  const std::string& content = transaction_.reader->header();
  const auto refusal = [&](std::string_view why) {
    return make_reply(553, "5.7.1",
                      fmt::format("{}; not accepted from <{}>", why, authenticated_as_));
  };
  const std::vector<std::vector<std::string>> from = rfc5322_field_addresses(content, "From");
  if (from.size() != 1 || from.front().empty()) {
    return refusal(from.empty() ? "Message has no From header field"
                                : "Message must have one From header field with an address");
  }
  const std::vector<std::vector<std::string>> sender = rfc5322_field_addresses(content, "Sender");
  if (sender.size() > 1) return refusal("Message has more than one Sender header field");
  for (const std::string_view field : {"From", "Sender"}) {
    for (const auto& addresses : field == "From" ? from : sender) {
      for (const std::string& address : addresses) {
        if (!directory_.may_send_as(authenticated_as_, address)) {
          return refusal(
              fmt::format("Header {} address <{}> is not yours to send as", field, address));
        }
      }
    }
  }
  return std::nullopt;
}

// A copy an alias forwards leaves with an SRS return path, so that the next hop's SPF check
// passes for this server and a bounce comes back here to be returned. The `queued` event says
// so (forwarded_by, return_path); a sender that cannot be rewritten is kept, and why is
// recorded there too.
void ServerSession::forward_with_srs(const Target& target, TimePoint now, Delivery& delivery,
                                     LedgerEvent& queued) const {
  const std::string sender = transaction_.reverse_path.address();
  const SrsForward srs = settings_.srs ? settings_.srs->forward(sender, now)
                                       : SrsForward{sender, false, "no SRS in this session"};
  if (srs.rewritten) delivery.envelope_sender = srs.return_path;
  queued.fields.emplace_back("forwarded_by", target.forwarded_by);
  queued.fields.emplace_back("return_path", srs.return_path);
  if (!srs.kept_because.empty()) queued.fields.emplace_back("srs_skipped", srs.kept_because);
}

SessionStep ServerSession::on_message_checked(const MessageAuthentication& auth) {
  const IdentityDecision decision = decide_identity(auth, settings_.policy);
  if (decision.action == IdentityDecision::Action::reject) {
    accepted_ = AcceptedMessage{};
    start_over(State::greeted);
    return answer(identity_refusal(decision));
  }
  const TimePoint now = accepted_.record.received_at;
  std::vector<LedgerEvent>& events = accepted_.events;
  // After `received`, before the `queued` events: what was checked comes first.
  auto next =
      events.insert(events.begin() + 1, LedgerEvent{now, "auth", "", auth_event_fields(auth)});
  if (decision.action == IdentityDecision::Action::quarantine) {
    // A header the recipient's filters (Sieve, the mail client) act on; nothing is dropped.
    accepted_.content.header.insert(0, header_field("X-Herald-Quarantine", decision.reason));
    events.insert(next + 1, LedgerEvent{now, "quarantined", "", {{"reason", decision.reason}}});
  }
  const std::vector<AuthResult> results = authentication_results(auth);
  add_authentication_results(results);
  accepted_.record.envelope.sender_verified = verifies_envelope_sender(auth);
  // RFC 8617 5.1: a forwarder vouches for what it found before the next hop's checks, which
  // the forwarding itself breaks (SPF at least), can no longer see it.
  const bool forwarded = std::any_of(transaction_.targets.begin(), transaction_.targets.end(),
                                     [](const Target& t) { return !t.forwarded_by.empty(); });
  if (settings_.arc_sealing && forwarded) {
    seal_request_ = ArcSealRequest{authentication_results_payload(results), auth.arc.result};
    return work(SessionStep::Next::seal_message);
  }
  return work(SessionStep::Next::commit);
}

SessionStep ServerSession::on_message_sealed(std::string fields) {
  accepted_.content.header.insert(0, fields);
  accepted_.record.size = accepted_.content.size();
  accepted_.events.at(1).fields.emplace_back("arc_sealed", "yes");  // the `auth` event
  seal_request_ = ArcSealRequest{};
  return work(SessionStep::Next::commit);
}

SessionStep ServerSession::on_seal_refused(std::string reason) {
  accepted_.events.at(1).fields.emplace_back("arc_seal_skipped", std::move(reason));
  seal_request_ = ArcSealRequest{};
  return work(SessionStep::Next::commit);
}

// The QoS the MAIL parameters asked for. RFC 6710 4.1 lets a server lower a priority it does
// not trust: herald honours MT-PRIORITY from authenticated users and trusted networks only,
// and otherwise keeps 0 and says so on the `received` event.
Qos ServerSession::message_qos(TimePoint arrival, LedgerEvent& received) const {
  const MailParameters& p = transaction_.parameters;
  Qos qos;
  qos.ret = p.ret;
  qos.envid = p.envid;
  if (p.by) {
    // RFC 2852 4: the deadline counts from the time the message arrived here.
    qos.deliver_by = arrival + std::chrono::seconds(p.by->seconds);
    qos.deliver_by_mode = p.by->mode;
    qos.deliver_by_trace = p.by->trace;
  }
  if (p.priority && *p.priority != 0) {
    if (!may_relay()) {
      received.fields.emplace_back(
          "priority_reset",
          fmt::format("from {}: sender neither authenticated nor trusted", *p.priority));
    } else {
      qos.priority = *p.priority;
      received.fields.emplace_back("priority", std::to_string(qos.priority));
    }
  }
  return qos;
}

// RFC 8601 5: results claiming to be this server's were removed when the content arrived;
// these go above everything, Received included, as the newest trace.
void ServerSession::add_authentication_results(const std::vector<AuthResult>& results) {
  accepted_.content.header.insert(0, authentication_results_field(settings_.hostname, results));
  accepted_.record.size = accepted_.content.size();
}

SessionStep ServerSession::on_commit_succeeded() {
  const std::string id = accepted_.record.id;
  ++messages_accepted_;
  non_mail_commands_ = 0;  // a session that delivers mail is not idling
  arriving_.reset();       // its pieces are the committed message's now
  accepted_ = AcceptedMessage{};
  start_over(State::greeted);
  return answer(make_reply(250, "2.0.0", "queued as " + id));
}

SessionStep ServerSession::on_commit_failed() {
  accepted_ = AcceptedMessage{};
  start_over(State::greeted);
  return answer(make_reply(451, "4.3.0", "Temporary failure storing the message, try again later"));
}

}  // namespace herald
