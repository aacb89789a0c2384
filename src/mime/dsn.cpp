#include "mime/dsn.h"

#include <algorithm>
#include <cstdint>
#include <optional>

#include "mime/header.h"
#include "mime/xtext.h"

namespace herald {
namespace {

constexpr size_t kTextWidth = 76;
constexpr size_t kLongestTextLine = 900;  // well inside RFC 5322 2.1.1's 998
constexpr std::string_view kIndent = "    ";

bool is_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

bool is_control(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < ' ' || byte == 0x7F;
}

bool is_printable_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= ' ' && c <= '~'; });
}

// The report's headline follows its most urgent news: a failure outweighs a delay, which
// outweighs success.
DsnAction headline(const std::vector<DsnRecipient>& recipients) {
  auto has = [&](DsnAction action) {
    return std::any_of(recipients.begin(), recipients.end(),
                       [&](const DsnRecipient& r) { return r.action == action; });
  };
  if (has(DsnAction::failed)) return DsnAction::failed;
  if (has(DsnAction::delayed)) return DsnAction::delayed;
  return DsnAction::delivered;
}

std::string_view subject(DsnAction headline) {
  switch (headline) {
    case DsnAction::failed:
      return "Undelivered Mail Returned to Sender";
    case DsnAction::delayed:
      return "Delayed Mail (still being retried)";
    default:
      return "Successful Mail Delivery Report";
  }
}

std::string_view intro(DsnAction headline) {
  switch (headline) {
    case DsnAction::failed:
      return "Your message could not be delivered to one or more recipients.";
    case DsnAction::delayed:
      return "Your message has not yet been delivered to one or more recipients. The mail "
             "system will keep trying; you do not need to send it again.";
    default:
      return "Your message was delivered to the recipients listed below.";
  }
}

// The stored content may hold bare LF or CR (BDAT carries any octets); the report must not
// (RFC 5322 2.3), so every line end becomes CRLF. Appends `text` to `out` so converted;
// `after_cr` carries a CR that ended the text before, so that a CRLF split between two
// pieces stays one line end.
void append_with_crlf(std::string_view text, bool& after_cr, std::string& out) {
  for (const char c : text) {
    const bool lf_of_crlf = after_cr && c == '\n';
    after_cr = c == '\r';
    if (lf_of_crlf) continue;
    if (c == '\r' || c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
}

// The whole original with CRLF line ends, or nullopt when it turns out larger than `cap`:
// reading stops at the piece that passes the cap, so a body whose size() understated it
// still costs no more than the cap.
std::optional<std::string> whole_with_crlf(const MessageContent& content, size_t cap) {
  std::string out;
  out.reserve(std::min<uint64_t>(content.size(), cap) + 64);
  bool after_cr = false;
  size_t raw = content.header.size();
  append_with_crlf(content.header, after_cr, out);
  bool within = raw <= cap;
  if (within) {
    content.read_body([&](std::string_view piece) {
      raw += piece.size();
      within = raw <= cap;
      if (within) append_with_crlf(piece, after_cr, out);
      return within;
    });
  }
  if (!within) return std::nullopt;
  if (!out.empty() && !out.ends_with("\r\n")) out += "\r\n";
  return out;
}

// RFC 5322 2.1: the header section ends at the first empty line; without one, the whole
// content is header. Line ends become CRLF as in append_with_crlf. Given the content's
// header (the body is never read, so a large message returned by its header costs its
// header only); a header stored with bare line ends still ends at its first empty line.
std::string header_section(std::string_view content) {
  std::string out;
  bool line_start = true;
  for (size_t i = 0; i < content.size(); ++i) {
    const char c = content[i];
    if (c != '\r' && c != '\n') {
      out += c;
      line_start = false;
      continue;
    }
    if (c == '\r' && i + 1 < content.size() && content[i + 1] == '\n') ++i;
    if (line_start) return out;
    out += "\r\n";
    line_start = true;
  }
  if (!out.empty() && !out.ends_with("\r\n")) out += "\r\n";
  return out;
}

// Word-wraps `text` to kTextWidth, continuation lines indented by `indent`; each line ends in
// CRLF. A word too long for any line is cut at kLongestTextLine.
std::string wrap(std::string_view text, std::string_view first_indent, std::string_view indent) {
  std::string out(first_indent);
  size_t line_length = first_indent.size();
  bool line_has_word = false;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view word = text.substr(start, end - start);
    start = end + 1;
    if (word.empty()) continue;
    if (line_has_word && line_length + 1 + word.size() > kTextWidth) {
      out += "\r\n";
      out += indent;
      line_length = indent.size();
      line_has_word = false;
    }
    if (line_has_word) {
      out += ' ';
      ++line_length;
    }
    while (line_length + word.size() > kLongestTextLine) {
      out.append(word.substr(0, kLongestTextLine - line_length));
      word.remove_prefix(kLongestTextLine - line_length);
      out += "\r\n";
      out += indent;
      line_length = indent.size();
    }
    out.append(word);
    line_length += word.size();
    line_has_word = true;
  }
  out += "\r\n";
  return out;
}

// Text for people: controls (a multi-line reply) become spaces.
std::string plain(std::string_view text) {
  std::string out(text);
  std::replace_if(out.begin(), out.end(), is_control, ' ');
  return out;
}

std::string recipient_line(const DsnRecipient& r) {
  std::string what;
  switch (r.action) {
    case DsnAction::failed:
      what = "delivery failed";
      break;
    case DsnAction::delayed:
      what = "not delivered yet";
      if (r.will_retry_until)
        what += "; the mail system will try until " + header_date(*r.will_retry_until);
      break;
    case DsnAction::delivered:
      what = "delivered";
      break;
    case DsnAction::relayed:
      what = "passed on to a mail system that does not report delivery";
      break;
    case DsnAction::expanded:
      what = "delivered, and forwarded to the further recipients of that address";
      break;
  }
  std::string out = wrap(
      plain("<" + r.final_recipient + ">: " + what + " (status " + r.status + ")."), "", kIndent);
  if (!r.diagnostic_code.empty()) {
    // RFC 3464 2.3.6: "type; text"; people need only the text.
    const size_t semicolon = r.diagnostic_code.find(';');
    std::string_view reply = r.diagnostic_code;
    if (semicolon != std::string::npos) reply.remove_prefix(semicolon + 1);
    while (reply.starts_with(' ')) reply.remove_prefix(1);
    const std::string who =
        r.remote_mta.empty() ? "The reason: " : "The server " + r.remote_mta + " said: ";
    out +=
        wrap(plain(who + std::string(reply)), kIndent, std::string(kIndent) + std::string(kIndent));
  }
  return out;
}

std::string human_readable(const DsnRequest& request, bool returns_full, bool capped) {
  std::string text = wrap("This is the mail system at " + request.reporting_mta + ".", "", "");
  text += "\r\n";
  text += wrap(intro(headline(request.recipients)), "", "");
  const std::string attached = returns_full ? "Your message is attached below."
                               : capped     ? "Your message is larger than " +
                                              std::to_string(request.max_returned_size) +
                                              " octets; only its header is attached below."
                                        : "The header of your message is attached below.";
  text += wrap(attached, "", "");
  text += "\r\n";
  for (const DsnRecipient& r : request.recipients) text += recipient_line(r) + "\r\n";
  return text;
}

// RFC 3464 2.3.1 with RFC 3461 4.2: Original-Recipient repeats ORCPT's address type and its
// xtext-decoded address. When decoding fails or yields more than printable ASCII (the
// utf-8-addr-xtext of RFC 6533 3 is not decoded here), the xtext itself is the faithful
// printable form.
std::string original_recipient(std::string_view orcpt) {
  const size_t semicolon = orcpt.find(';');
  if (semicolon == std::string_view::npos) return std::string(orcpt);
  const std::string_view type = orcpt.substr(0, semicolon);
  const std::string_view address = orcpt.substr(semicolon + 1);
  const std::optional<std::string> decoded = xtext_decode(address);
  const bool usable = decoded && is_printable_ascii(*decoded);
  return std::string(type) + ";" + (usable ? *decoded : std::string(address));
}

// RFC 6533 3: an address that is not ASCII is of type utf-8.
std::string typed_address(const std::string& address) {
  return (is_ascii(address) ? "rfc822;" : "utf-8;") + address;
}

std::string envelope_id(std::string_view envid) {
  const std::optional<std::string> decoded = xtext_decode(envid);
  // RFC 3464 2.2.1: the envelope id is printable text; keep the xtext otherwise.
  return decoded && is_printable_ascii(*decoded) ? *decoded : std::string(envid);
}

std::string delivery_status(const DsnOriginal& original, const DsnRequest& request) {
  // RFC 3464 2.2: the per-message fields, in the order of its grammar.
  std::string out;
  if (!original.envid.empty()) {
    out += header_field("Original-Envelope-Id", envelope_id(original.envid));
  }
  out += header_field("Reporting-MTA", "dns; " + request.reporting_mta);
  out += header_field("Arrival-Date", header_date(original.arrival));
  // RFC 3464 2.3: one group per recipient, each after a blank line.
  for (const DsnRecipient& r : request.recipients) {
    out += "\r\n";
    if (!r.orcpt.empty()) {
      out += header_field("Original-Recipient", original_recipient(r.orcpt));
    }
    out += header_field("Final-Recipient", typed_address(r.final_recipient));
    out += header_field("Action", to_string(r.action));
    out += header_field("Status", r.status);
    if (!r.remote_mta.empty()) out += header_field("Remote-MTA", "dns; " + r.remote_mta);
    if (!r.diagnostic_code.empty()) out += header_field("Diagnostic-Code", r.diagnostic_code);
    if (r.last_attempt) out += header_field("Last-Attempt-Date", header_date(*r.last_attempt));
    if (r.will_retry_until) {
      out += header_field("Will-Retry-Until", header_date(*r.will_retry_until));
    }
  }
  return out;
}

// The most of the original the report may quote whole; nullopt when it returns the header
// section only.
std::optional<size_t> full_return_cap(const DsnOriginal& original, const DsnRequest& request) {
  // A BINARYMIME body cannot travel inside message/rfc822, which allows no transfer
  // encoding to make it safe (RFC 2046 5.2.1), and the report may go to servers without
  // BINARYMIME (RFC 3030); its header section is returned instead.
  if (original.body_type == "BINARYMIME") return std::nullopt;
  switch (original.ret) {
    case DsnReturn::full:
      return request.max_returned_size;
    case DsnReturn::headers:
      return std::nullopt;
    case DsnReturn::unspecified:
      return request.full_return_limit;
  }
  return std::nullopt;
}

// What of the original goes back: the whole of it when asked for and within the cap (the
// body's size says so before a piece is read), else its header section.
std::optional<std::string> returned_whole(const DsnOriginal& original, const DsnRequest& request) {
  const std::optional<size_t> cap = full_return_cap(original, request);
  if (!cap || original.content->size() > *cap) return std::nullopt;
  return whole_with_crlf(*original.content, *cap);
}

struct Part {
  std::string headers;  // its header fields, each ending in CRLF
  std::string body;     // ends in CRLF
};

// RFC 2046 5.1.1: the boundary must not occur in any part. The id makes a clash unlikely;
// the check makes it impossible.
std::string choose_boundary(const std::string& id, const std::vector<Part>& parts) {
  for (int attempt = 0;; ++attempt) {
    const std::string boundary = "=_herald_dsn_" + id + "_" + std::to_string(attempt);
    const bool clashes = std::any_of(parts.begin(), parts.end(), [&](const Part& part) {
      return part.body.find(boundary) != std::string::npos;
    });
    if (!clashes) return boundary;
  }
}

}  // namespace

std::string_view to_string(DsnAction action) {
  switch (action) {
    case DsnAction::failed:
      return "failed";
    case DsnAction::delayed:
      return "delayed";
    case DsnAction::delivered:
      return "delivered";
    case DsnAction::relayed:
      return "relayed";
    case DsnAction::expanded:
      return "expanded";
  }
  return "failed";
}

DsnMessage build_dsn(const DsnOriginal& original, const DsnRequest& request) {
  DsnMessage dsn;
  dsn.recipient = original.envelope_sender;

  std::optional<std::string> whole = returned_whole(original, request);
  const bool full = whole.has_value();
  std::string returned = full ? std::move(*whole) : header_section(original.content->header);
  const bool returned_is_8bit = !is_ascii(returned);

  std::string status_body = delivery_status(original, request);
  const bool global_status = !is_ascii(status_body);
  const bool global_original = original.smtputf8 && returned_is_8bit;

  std::vector<Part> parts;
  const bool capped =
      !full && original.ret == DsnReturn::full && original.body_type != "BINARYMIME";
  std::string text = human_readable(request, full, capped);
  const bool text_is_8bit = !is_ascii(text);
  parts.push_back({text_is_8bit ? "Content-Type: text/plain; charset=utf-8\r\n"
                                  "Content-Transfer-Encoding: 8bit\r\n"
                                : "Content-Type: text/plain; charset=us-ascii\r\n",
                   std::move(text)});
  // RFC 6533 4: UTF-8 addresses need the global delivery-status type.
  parts.push_back({global_status ? "Content-Type: message/global-delivery-status\r\n"
                                 : "Content-Type: message/delivery-status\r\n",
                   std::move(status_body)});
  std::string original_type;
  if (full) {
    // RFC 6532 3.7, RFC 6533 4: a message that needed SMTPUTF8 goes back as message/global.
    original_type = global_original ? "message/global" : "message/rfc822";
  } else {
    // RFC 6522 4, RFC 6533 4.
    original_type = global_original ? "message/global-headers" : "text/rfc822-headers";
  }
  std::string original_headers = "Content-Type: " + original_type + "\r\n";
  // RFC 2046 5.2.1: message/rfc822 allows 8bit as its encoding, and says so.
  if (returned_is_8bit) original_headers += "Content-Transfer-Encoding: 8bit\r\n";
  parts.push_back({std::move(original_headers), std::move(returned)});

  const std::string boundary = choose_boundary(request.id, parts);
  const std::string& host = request.reporting_mta;
  std::string& out = dsn.content;
  out.reserve(parts.back().body.size() + 4096);
  out += header_field("From", "\"Mail Delivery System\" <MAILER-DAEMON@" + host + ">");
  out += header_field("To", "<" + original.envelope_sender + ">");
  out += header_field("Subject", subject(headline(request.recipients)));
  out += header_field("Date", header_date(request.now));
  out += header_field("Message-ID", "<" + request.id + "@" + host + ">");
  out += header_field("MIME-Version", "1.0");
  // RFC 3834 5: a notification is an automatic response, which other responders leave be.
  out += header_field("Auto-Submitted", "auto-replied");
  // RFC 6522 3: the report type names what part two is.
  out += header_field("Content-Type", "multipart/report; report-type=delivery-status; boundary=\"" +
                                          boundary + "\"");
  out += "\r\n";
  for (const Part& part : parts) {
    out += "--" + boundary + "\r\n";
    out += part.headers;
    out += "\r\n";
    out += part.body;
    // RFC 2046 5.1.1: the CRLF before a delimiter belongs to the delimiter.
    out += "\r\n";
  }
  out += "--" + boundary + "--\r\n";

  dsn.needs_8bitmime = text_is_8bit || returned_is_8bit;
  dsn.needs_smtputf8 = global_status || global_original || !is_ascii(original.envelope_sender);
  return dsn;
}

bool may_notify(std::string_view envelope_sender) {
  return !envelope_sender.empty();
}

}  // namespace herald
