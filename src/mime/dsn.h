// Delivery status notifications: the multipart/report a sender gets back when a message
// failed, is delayed, or (when asked) was delivered (RFC 3464, with the ESMTP parameters of
// RFC 3461, the report container of RFC 6522 and the internationalised types of RFC 6533).
// This builds the bytes only; the caller decides whether a notification is due (NOTIFY=,
// DESIGN.md promise 3), enqueues the result and records `dsn-sent` in the ledger.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mime/message_content.h"
#include "util/clock.h"

namespace herald {

// RFC 3464 2.3.3.
enum class DsnAction { failed, delayed, delivered, relayed, expanded };
std::string_view to_string(DsnAction action);  // as the Action field writes it: "failed", …

// RFC 3461 4.3: what of the original the sender asked to get back.
enum class DsnReturn { unspecified, full, headers };

// The message being reported on. The caller fills it from the stored MessageRecord and its
// content (the store layer sits above mime, so the record itself is not taken here); the
// content is pointed to, not copied, and must outlive build_dsn.
struct DsnOriginal {
  std::string envelope_sender;              // MAIL FROM without brackets; the DSN goes there
  TimePoint arrival;                        // when herald accepted it
  const MessageContent* content = nullptr;  // never null: the stored header and body
  std::string body_type;                    // "7BIT", "8BITMIME" or "BINARYMIME"
  bool smtputf8 = false;                    // RFC 6531: it came with SMTPUTF8
  DsnReturn ret = DsnReturn::unspecified;
  std::string envid;  // the ENVID= parameter as received (xtext); empty when not given
};

// What happened to one recipient (RFC 3464 2.3).
struct DsnRecipient {
  std::string final_recipient;  // the address delivery was attempted to
  std::string orcpt;            // ORCPT= as received, "rfc822;" + xtext; empty when not given
  DsnAction action = DsnAction::failed;
  std::string status;           // RFC 3463 code: "5.1.1", "4.4.7", "2.0.0"
  std::string remote_mta;       // host name of the server that answered; empty for local
  std::string diagnostic_code;  // "smtp; 550 5.1.1 no such user"; empty when none
  std::optional<TimePoint> last_attempt;
  std::optional<TimePoint> will_retry_until;  // for `delayed`
};

struct DsnRequest {
  std::string reporting_mta;  // this server's host name
  std::string id;             // unique; the DSN's Message-ID is <id@reporting_mta>
  TimePoint now;              // the DSN's Date
  // RFC 3461 4.3 leaves the choice to the MTA when RET= was not given: the whole message
  // up to this size, its header section above it.
  size_t full_return_limit = 128 * 1024;
  // Even when RET=FULL asked for it, a message above this size is returned as its header
  // section only, and the human-readable part says so: the sender has the message, and a
  // DSN that quotes 50 MiB back costs the queue as much again.
  size_t max_returned_size = 1024 * 1024;
  std::vector<DsnRecipient> recipients;  // at least one
};

struct DsnMessage {
  // RFC 5321 4.5.5 and 6.1: a DSN is sent with the null reverse-path <> so that
  // nobody ever notifies about a notification. Always empty; here so the caller cannot
  // forget it.
  std::string envelope_sender;
  std::string recipient;        // the original envelope sender
  std::string content;          // the whole message, CRLF line ends throughout
  bool needs_8bitmime = false;  // it holds 8-bit text; send with BODY=8BITMIME
  bool needs_smtputf8 = false;  // it holds UTF-8 addresses or a message/global part
};

// The complete DSN for `original`. Thread-safe. The caller must not call it when
// may_notify(original.envelope_sender) is false. The original's body is read only when it
// is returned whole (RET=FULL, or no RET and under full_return_limit): its header section
// alone costs no body piece, and no piece is read past the cap, so the DSN stays bounded by
// the cap whatever the original's size. Blocks while body pieces are read (call it off the
// io threads); throws ContentReadError when one cannot be.
DsnMessage build_dsn(const DsnOriginal& original, const DsnRequest& request);

// False for the null reverse-path: such a message is itself a notification or auto-reply
// and must never get a DSN back (RFC 5321 4.5.5), or two servers could bounce
// bounces at each other forever.
bool may_notify(std::string_view envelope_sender);

}  // namespace herald
