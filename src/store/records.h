// The records herald keeps for every message (DESIGN.md section 2): the message and its
// envelope (immutable once accepted), one Delivery per final recipient, and the ledger,
// an append-only list of events that answers "what happened to my message".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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
};

struct MessageRecord {
  std::string id;  // see util/message_id.h
  TimePoint received_at;
  uint64_t size = 0;  // octets of the stored content (with herald's Received:)
  Envelope envelope;
};

// RFC-less but plain: the life of one (message, recipient) pair. Only the four terminal
// states end a delivery; each is reached exactly once and recorded in the ledger.
enum class DeliveryState { queued, attempting, deferred, delivered, bounced, expired, discarded };

bool is_terminal(DeliveryState state);
std::string_view to_string(DeliveryState state);
std::optional<DeliveryState> parse_delivery_state(std::string_view text);

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
