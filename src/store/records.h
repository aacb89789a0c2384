// The records herald keeps for every message (DESIGN.md section 2): the message and its
// envelope (immutable once accepted), one Delivery per final recipient, and the ledger,
// an append-only list of events that answers "what happened to my message".
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mime/dsn.h"  // DsnReturn (RFC 3461 4.3 RET), shared with the DSN builder
#include "util/clock.h"

namespace herald {

// How the message came in, as the SMTP transaction saw it.
struct Envelope {
  std::string mail_from;             // reverse-path without brackets; empty for the null path <>
  std::vector<std::string> rcpt_to;  // forward-paths as accepted, without brackets, in order
  std::string helo;                  // the EHLO/HELO argument
  std::string peer_ip;               // client address, numeric
  uint16_t peer_port = 0;
  std::string listener;          // "smtp", "submission", …
  std::string protocol;          // RFC 3848 with-type: "SMTP", "ESMTP", "ESMTPS", "ESMTPSA"
  std::string tls_version;       // "TLSv1.3"; empty without TLS
  std::string tls_cipher;        // "TLS_AES_256_GCM_SHA384"; empty without TLS
  std::string authenticated_as;  // empty when not authenticated
  std::string body_type;         // "7BIT", "8BITMIME" or "BINARYMIME" (RFC 6152, RFC 3030)
  bool smtputf8 = false;         // RFC 6531
  // The MAIL FROM domain vouched for the message (SPF pass, or a DKIM pass aligned with it):
  // it may get DSNs like an authenticated sender (DESIGN.md promise 3).
  bool sender_verified = false;
};

// RFC 2852 4: what happens when the deliver-by time passes undelivered.
enum class DeliverByMode {
  none,            // no BY= was given
  return_if_late,  // "R": the message is returned (bounced), not delivered late
  notify_if_late,  // "N": a delay DSN is sent and delivery goes on
};

// The message's quality of service (DESIGN.md section 3), whatever protocol brought it in.
// Records written before these fields existed decode to the defaults.
struct Qos {
  int priority = 0;        // -9..9, higher first (RFC 6710 scale); 0 is normal
  TimePoint deliver_by{};  // absolute deadline; meaningful only with a deliver_by_mode
  DeliverByMode deliver_by_mode = DeliverByMode::none;
  bool deliver_by_trace = false;  // RFC 2852 4: "T", report the delivery time in the DSN
  DsnReturn ret = DsnReturn::unspecified;
  std::string envid;  // RFC 3461 4.4 ENVID, xtext-decoded; empty when not given
};

// What an MQTT application message carries besides its payload (the content's body).
struct MqttMessageFields {
  std::string topic;
  uint8_t qos = 0;  // as published
  bool retain = false;
  std::string properties;  // the forwarded properties as MQTT 5 encodes them (opaque here)
  std::optional<TimePoint> expires_at;  // from the Message Expiry Interval
  std::string publisher;                // client identifier

  bool operator==(const MqttMessageFields&) const = default;
};

// How one persistent session gets its copy of an MQTT message, fixed when it is routed.
struct MqttCopyFields {
  uint8_t qos = 0;      // the lower of the message's and the subscription's
  bool retain = false;  // the RETAIN flag the copy is sent with (retain as published)
  std::vector<uint32_t> identifiers;  // every matching subscription identifier
  // The packet id it was last sent with at QoS 2 (0: not sent), so that a copy sent again
  // after a restart is the same exchange to the client.
  uint16_t packet_id = 0;

  bool operator==(const MqttCopyFields&) const = default;
};

struct MessageRecord {
  std::string id;  // see util/message_id.h
  TimePoint received_at;
  uint64_t size = 0;  // octets of the stored content (with herald's Received:)
  // How many pieces its body is stored in (mime/message_content.h); set by the store when
  // it commits the message. 0: stored before bodies were pieces, the content whole.
  uint32_t body_pieces = 0;
  Envelope envelope;
  Qos qos;
  std::optional<MqttMessageFields> mqtt;  // set for a message published over MQTT
};

// RFC-less but plain: the life of one (message, recipient) pair. Only the four terminal
// states end a delivery; each is reached exactly once and recorded in the ledger.
enum class DeliveryState { queued, attempting, deferred, delivered, bounced, expired, discarded };

bool is_terminal(DeliveryState state);
std::string_view to_string(DeliveryState state);
std::optional<DeliveryState> parse_delivery_state(std::string_view text);

// RFC 3461 4.1 NOTIFY. Not given: the MTA's default (failure and delay). Given with no
// outcome set: NEVER.
struct NotifyRequest {
  bool given = false;
  bool success = false;
  bool failure = false;
  bool delay = false;

  bool operator==(const NotifyRequest&) const = default;
};

// Names one delivery: the message and the delivery's index within it.
struct DeliveryKey {
  std::string message_id;
  uint32_t index = 0;

  auto operator<=>(const DeliveryKey&) const = default;
};

struct Delivery {
  std::string message_id;
  uint32_t index = 0;               // unique within the message, from 0
  std::string recipient;            // the RCPT TO address it came from (the original recipient)
  std::string mailbox;              // final address; for local delivery, the user's mailbox
  std::string transport = "local";  // which transport carries it
  DeliveryState state = DeliveryState::queued;
  uint32_t attempts = 0;
  TimePoint next_attempt;  // when it may next be attempted
  std::string last_reply;  // the last outcome in words (remote reply, local error)
  // The DSN request of the RCPT this delivery came from (every delivery an alias expands
  // to carries it): RFC 3461 4.1 NOTIFY and 4.2 ORCPT as "addr-type;address" with the
  // xtext decoded, empty when not given.
  NotifyRequest notify;
  std::string original_recipient;
  // An operator's `herald queue hold`: no attempt starts until `release`; survives restarts.
  bool held = false;
  // A delay DSN (DELIVERBY N passed, or the [queue] delay_warning) was sent; it is sent once.
  bool delay_notified = false;
  // The MAIL FROM of this delivery when it is not the message's: the SRS address of a copy
  // an alias forwards (auth/srs.h). Empty: the envelope's mail_from. DSNs still go to the
  // envelope's mail_from, the original sender.
  std::string envelope_sender;
  // Its message's qos.priority (-9..9, higher first), copied when the delivery is made: the
  // store files the delivery's due entry under it (store.h, DuePosition) without reading the
  // message. Stored deliveries written before it existed read as 0 until the store migrates.
  int priority = 0;
  // Set for a copy for a persistent MQTT session (transport "mqtt:" CLIENT-ID, recipient
  // the client identifier).
  std::optional<MqttCopyFields> mqtt;

  DeliveryKey key() const { return DeliveryKey{message_id, index}; }
};

// One line of a message's history. `fields` are ordered key/value details that an operator
// reads as `key=value` ("peer=127.0.0.1", "mailbox=/var/…/new/…").
struct LedgerEvent {
  TimePoint at;
  std::string type;       // received, queued, attempt, deferred, delivered, bounced,
                          // expired, discarded, dsn-sent, read, acked, …
  std::string recipient;  // empty for events about the whole message
  std::vector<std::pair<std::string, std::string>> fields;
};

}  // namespace herald
