// Incremental, strict parsing of the replies an SMTP server sends (RFC 5321 4.2), for
// herald's outbound client. Bytes arrive in pieces of any size; complete replies come out in
// order. Anything malformed stops the parser for good: the connection is then a temporary
// failure for every recipient still open.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include "smtp/reply.h"

namespace herald {

enum class ReplyError {
  none,
  bad_line_ending,  // a bare CR or a bare LF (RFC 5321 2.3.8)
  bad_character,    // a NUL or another control character in the text
  line_too_long,    // more than ReplyParser::kMaxLine octets, CRLF included
  too_many_lines,   // more than ReplyParser::kMaxLines lines in one reply
  bad_code,         // not three digits 2xx-5xx followed by SP, "-" or the line end
  code_changed,     // the lines of a multi-line reply carry different codes (RFC 5321 4.2.1)
};

std::string_view to_string(ReplyError error);

// Not thread-safe: one parser belongs to one connection.
class ReplyParser {
 public:
  // RFC 5321 4.5.3.1.5 sets a reply line at 512 octets; real servers send longer ones, so
  // herald is lenient up to a bound that still keeps a hostile server's memory use small.
  static constexpr size_t kMaxLine = 4096;
  static constexpr size_t kMaxLines = 1000;

  // RFC 2034 3: once the server has announced ENHANCEDSTATUSCODES, the text of each reply
  // line may start with an RFC 3463 status code; it is then parsed into Reply::enhanced and
  // removed from the text. Off, the text is kept as sent.
  void set_enhanced_status_codes(bool on) { enhanced_status_codes_ = on; }

  // Takes the next piece of input. After an error, input is ignored.
  void feed(std::string_view input);

  // The oldest complete reply not yet taken, if any. Replies parsed before an error can
  // still be taken.
  std::optional<Reply> next();

  ReplyError error() const { return error_; }

  // Forgets every byte and reply not yet taken (RFC 3207 4.2: what the server sent before
  // the TLS handshake must not be read as if it came after it).
  void discard_buffered();

 private:
  void take_line(std::string_view line);
  void fail(ReplyError error);

  bool enhanced_status_codes_ = false;
  std::string line_;
  bool after_cr_ = false;
  std::optional<Reply> current_;  // a multi-line reply whose last line has not come
  std::deque<Reply> complete_;
  ReplyError error_ = ReplyError::none;
};

}  // namespace herald
