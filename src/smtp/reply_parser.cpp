#include "smtp/reply_parser.h"

#include <utility>

namespace herald {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Length of 1 to 3 digits at `at`, or 0.
size_t digit_run(std::string_view text, size_t at) {
  size_t length = 0;
  while (at + length < text.size() && is_digit(text[at + length]) && length < 4) ++length;
  return length <= 3 ? length : 0;
}

// RFC 3463 2: status-code = class "." subject "." detail, class being 2, 4 or 5 and the
// others 1 to 3 digits. RFC 2034 4: its class matches the reply's first digit. Returns the
// code's length when `text` starts with one followed by SP or the end, else 0.
size_t enhanced_code_length(std::string_view text, char reply_class) {
  if (text.size() < 5 || text[0] != reply_class || text[1] != '.') return 0;
  const size_t subject = digit_run(text, 2);
  if (subject == 0 || 2 + subject >= text.size() || text[2 + subject] != '.') return 0;
  const size_t detail = digit_run(text, 3 + subject);
  const size_t length = 3 + subject + detail;
  if (detail == 0 || (length < text.size() && text[length] != ' ')) return 0;
  return length;
}

// RFC 5321 4.2: textstring is HT, SP and printable characters; UTF-8 is let through since
// servers send it in the wild and it harms nobody here.
bool is_text_octet(char c) {
  const auto octet = static_cast<unsigned char>(c);
  return octet == '\t' || octet >= 0x20;
}

}  // namespace

std::string_view to_string(ReplyError error) {
  switch (error) {
    case ReplyError::none:
      return "no error";
    case ReplyError::bad_line_ending:
      return "bare CR or LF in a reply";
    case ReplyError::bad_character:
      return "control character in a reply";
    case ReplyError::line_too_long:
      return "reply line too long";
    case ReplyError::too_many_lines:
      return "reply has too many lines";
    case ReplyError::bad_code:
      return "malformed reply code";
    case ReplyError::code_changed:
      return "reply lines with different codes";
  }
  return "unknown reply error";
}

void ReplyParser::feed(std::string_view input) {
  for (const char c : input) {
    if (error_ != ReplyError::none) return;
    if (after_cr_) {
      after_cr_ = false;
      if (c != '\n') {
        fail(ReplyError::bad_line_ending);
        return;
      }
      take_line(line_);
      line_.clear();
    } else if (c == '\r') {
      after_cr_ = true;
    } else if (c == '\n') {
      fail(ReplyError::bad_line_ending);
    } else if (!is_text_octet(c)) {
      fail(ReplyError::bad_character);
    } else if (line_.size() + 2 >= kMaxLine) {
      fail(ReplyError::line_too_long);
    } else {
      line_ += c;
    }
  }
}

std::optional<Reply> ReplyParser::next() {
  if (complete_.empty()) return std::nullopt;
  Reply reply = std::move(complete_.front());
  complete_.pop_front();
  return reply;
}

void ReplyParser::discard_buffered() {
  line_.clear();
  after_cr_ = false;
  current_.reset();
  complete_.clear();
}

void ReplyParser::fail(ReplyError error) {
  error_ = error;
  line_.clear();
  current_.reset();
}

// RFC 5321 4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF )
//                            Reply-code [ SP textstring ] CRLF
void ReplyParser::take_line(std::string_view line) {
  if (line.size() < 3 || line[0] < '2' || line[0] > '5' || !is_digit(line[1]) ||
      !is_digit(line[2]) || (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
    fail(ReplyError::bad_code);
    return;
  }
  const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  const bool last = line.size() == 3 || line[3] == ' ';
  if (!current_) {
    current_.emplace();
    current_->code = code;
  } else if (current_->code != code) {
    fail(ReplyError::code_changed);
    return;
  }
  if (current_->lines.size() == kMaxLines) {
    fail(ReplyError::too_many_lines);
    return;
  }
  std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view();
  if (enhanced_status_codes_) {
    if (const size_t length = enhanced_code_length(text, line[0]); length > 0) {
      if (current_->enhanced.empty()) current_->enhanced = std::string(text.substr(0, length));
      text.remove_prefix(length < text.size() ? length + 1 : length);
    }
  }
  current_->lines.emplace_back(text);
  if (last) {
    complete_.push_back(std::move(*current_));
    current_.reset();
  }
}

}  // namespace herald
