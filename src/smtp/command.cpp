#include "smtp/command.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <limits>
#include <vector>

#include "mime/xtext.h"
#include "util/ascii.h"

namespace herald {
namespace {

// RFC 5321 4.5.3.1: the longest path (with its brackets) and domain a server must accept.
constexpr size_t kMaxPathOctets = 256;
constexpr size_t kMaxDomainOctets = 255;
constexpr size_t kMaxLabelOctets = 63;      // RFC 1035 2.3.4
constexpr size_t kMaxChunkSizeDigits = 18;  // any BDAT chunk fits in uint64_t

bool is_alpha(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}
bool is_let_dig(unsigned char c) {
  return is_alpha(c) || is_digit(c);
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         equals_ignoring_ascii_case(text.substr(0, prefix.size()), prefix);
}

// RFC 5322 3.2.3 atext, which RFC 5321 4.1.2 uses for Atom.
bool is_atext(unsigned char c) {
  if (is_let_dig(c)) return true;
  constexpr std::string_view specials = "!#$%&'*+-/=?^_`{|}~";
  return specials.find(static_cast<char>(c)) != std::string_view::npos;
}

// RFC 5321 4.1.2 qtextSMTP: printable ASCII and space, except '"' and '\'.
bool is_qtext(unsigned char c) {
  return c >= 32 && c <= 126 && c != '"' && c != '\\';
}

// The length of the well-formed UTF-8 sequence of a non-ASCII character at text[pos]
// (RFC 3629 4: no overlong forms, no surrogates, nothing past U+10FFFF), or 0.
size_t utf8_sequence_length(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[pos + i]); };
  const unsigned char lead = byte(0);
  size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (pos + length > text.size()) return 0;
  if (byte(1) < low || byte(1) > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

// A position in the text being parsed; every read is bounds-checked.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}

  bool at_end() const { return pos_ >= text_.size(); }
  size_t pos() const { return pos_; }
  unsigned char peek() const { return at_end() ? 0 : static_cast<unsigned char>(text_[pos_]); }
  bool take(char c) {
    if (at_end() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  void advance(size_t n) { pos_ += n; }
  std::string_view since(size_t start) const { return text_.substr(start, pos_ - start); }
  std::string_view rest() const { return text_.substr(pos_); }
  // Consumes a UTF-8 non-ASCII character if one starts here.
  bool take_utf8() {
    if (at_end()) return false;
    const size_t length = utf8_sequence_length(text_, pos_);
    pos_ += length;
    return length > 0;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

// RFC 5321 4.1.2 Domain (sub-domain *("." sub-domain)), with RFC 6531 3.3 U-labels.
bool parse_domain(Cursor& in, bool& non_ascii) {
  const size_t start = in.pos();
  for (;;) {
    const size_t label_start = in.pos();
    bool last_was_hyphen = false;
    for (;;) {
      const unsigned char c = in.peek();
      if (is_let_dig(c)) {
        in.advance(1);
        last_was_hyphen = false;
      } else if (c == '-' && in.pos() > label_start) {
        in.advance(1);
        last_was_hyphen = true;
      } else if (c >= 0x80 && in.take_utf8()) {
        non_ascii = true;
        last_was_hyphen = false;
      } else {
        break;
      }
    }
    const size_t label_length = in.pos() - label_start;
    // sub-domain = Let-dig [Ldh-str]: it neither starts nor ends with a hyphen.
    if (label_length == 0 || label_length > kMaxLabelOctets || last_was_hyphen) return false;
    if (!in.take('.')) break;
  }
  return in.pos() - start <= kMaxDomainOctets;
}

// RFC 5321 4.1.3: Snum 3("." Snum), Snum = 1*3DIGIT with a value of 0 to 255.
bool is_ipv4_literal(std::string_view text) {
  int parts = 0;
  size_t i = 0;
  while (parts < 4) {
    size_t digits = 0;
    int value = 0;
    while (i < text.size() && is_digit(text[i]) && digits < 3) {
      value = value * 10 + (text[i] - '0');
      ++i;
      ++digits;
    }
    if (digits == 0 || value > 255) return false;
    ++parts;
    if (parts < 4) {
      if (i >= text.size() || text[i] != '.') return false;
      ++i;
    }
  }
  return i == text.size();
}

bool is_ipv6_address(std::string_view text) {
  std::array<char, 64> buffer{};
  if (text.empty() || text.size() >= buffer.size()) return false;
  text.copy(buffer.data(), text.size());
  unsigned char address[16];
  return inet_pton(AF_INET6, buffer.data(), address) == 1;
}

// RFC 5321 4.1.3: the tag of a General-address-literal is an Ldh-str.
bool is_ldh_string(std::string_view text) {
  if (text.empty() || !is_let_dig(text.front()) || !is_let_dig(text.back())) return false;
  for (const char c : text) {
    if (!is_let_dig(c) && c != '-') return false;
  }
  return true;
}

// RFC 5321 4.1.3 dcontent: printable ASCII except '[', '\' and ']'.
bool is_dcontent(unsigned char c) {
  return c >= 33 && c <= 126 && c != '[' && c != '\\' && c != ']';
}

// RFC 5321 4.1.3 address-literal, starting at '['.
bool parse_address_literal(Cursor& in) {
  if (!in.take('[')) return false;
  const size_t start = in.pos();
  while (!in.at_end() && in.peek() != ']') in.advance(1);
  const std::string_view inside = in.since(start);
  if (!in.take(']')) return false;
  if (is_ipv4_literal(inside)) return true;
  if (starts_with_ignoring_case(inside, "IPv6:")) return is_ipv6_address(inside.substr(5));
  const size_t colon = inside.find(':');
  if (colon == std::string_view::npos || colon + 1 == inside.size()) return false;
  if (!is_ldh_string(inside.substr(0, colon))) return false;
  for (const char c : inside.substr(colon + 1)) {
    if (!is_dcontent(c)) return false;
  }
  return true;
}

// RFC 5321 4.1.2 Dot-string = Atom *("." Atom), with RFC 6531 3.3 UTF-8 in atext.
bool parse_dot_string(Cursor& in, bool& non_ascii) {
  for (;;) {
    const size_t atom_start = in.pos();
    for (;;) {
      if (is_atext(in.peek())) {
        in.advance(1);
      } else if (in.peek() >= 0x80 && in.take_utf8()) {
        non_ascii = true;
      } else {
        break;
      }
    }
    if (in.pos() == atom_start) return false;
    if (!in.take('.')) return true;
  }
}

bool is_dot_string(std::string_view text) {
  Cursor in(text);
  bool non_ascii = false;
  return parse_dot_string(in, non_ascii) && in.at_end();
}

// RFC 5321 4.1.2 Quoted-string, starting at '"'. `content` receives it unescaped.
bool parse_quoted_string(Cursor& in, std::string& content, bool& non_ascii) {
  if (!in.take('"')) return false;
  for (;;) {
    const unsigned char c = in.peek();
    if (in.at_end()) return false;
    if (c == '"') {
      in.advance(1);
      return true;
    }
    if (c == '\\') {
      in.advance(1);
      // quoted-pairSMTP = %d92 %d32-126
      const unsigned char quoted = in.peek();
      if (in.at_end() || quoted < 32 || quoted > 126) return false;
      content += static_cast<char>(quoted);
      in.advance(1);
    } else if (is_qtext(c)) {
      content += static_cast<char>(c);
      in.advance(1);
    } else {
      const size_t start = in.pos();
      if (!in.take_utf8()) return false;
      content += in.since(start);
      non_ascii = true;
    }
  }
}

// RFC 5321 4.1.2 Local-part = Dot-string / Quoted-string.
bool parse_local_part(Cursor& in, Path& path) {
  const size_t start = in.pos();
  if (in.peek() != '"') {
    if (!parse_dot_string(in, path.non_ascii)) return false;
    path.local_part = in.since(start);
    return true;
  }
  std::string content;
  if (!parse_quoted_string(in, content, path.non_ascii)) return false;
  path.local_part = is_dot_string(content) ? content : std::string(in.since(start));
  return true;
}

// RFC 5321 4.1.2 A-d-l = At-domain *( "," At-domain ): a source route, which RFC 5321
// appendix C says to accept and ignore.
bool skip_source_route(Cursor& in) {
  if (in.peek() != '@') return true;
  do {
    bool non_ascii = false;
    if (!in.take('@') || !parse_domain(in, non_ascii)) return false;
  } while (in.take(','));
  return in.take(':');
}

enum class PathKind { reverse, forward };

// RFC 5321 4.1.2 Reverse-path / Forward-path, starting at '<'.
bool parse_path(Cursor& in, PathKind kind, Path& path) {
  const size_t start = in.pos();
  if (!in.take('<')) return false;
  if (kind == PathKind::reverse && in.take('>')) return true;  // the null reverse-path <>
  if (!skip_source_route(in) || !parse_local_part(in, path)) return false;
  if (in.take('@')) {
    const size_t domain_start = in.pos();
    const bool parsed =
        in.peek() == '[' ? parse_address_literal(in) : parse_domain(in, path.non_ascii);
    if (!parsed) return false;
    path.domain = in.since(domain_start);
  } else if (kind != PathKind::forward ||
             !equals_ignoring_ascii_case(path.local_part, "Postmaster")) {
    // RFC 5321 4.1.1.3: "Postmaster" without a domain is the one mailbox allowed bare.
    return false;
  }
  return in.take('>') && in.pos() - start <= kMaxPathOctets;
}

// RFC 5321 4.1.2 esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").
bool is_esmtp_keyword(std::string_view text) {
  if (text.empty() || !is_let_dig(text.front())) return false;
  for (const char c : text) {
    if (!is_let_dig(c) && c != '-') return false;
  }
  return true;
}

// RFC 5321 4.1.2 esmtp-value = 1*(%d33-60 / %d62-126), widened by RFC 6531 3.3 to UTF-8.
bool is_esmtp_value(std::string_view text) {
  if (text.empty()) return false;
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 33 && c <= 126 && c != '=') {
      ++i;
    } else if (const size_t length = c >= 0x80 ? utf8_sequence_length(text, i) : 0) {
      i += length;
    } else {
      return false;
    }
  }
  return true;
}

struct Parameter {
  std::string_view keyword;
  std::string_view value;
  bool has_value = false;
};

// Splits "KEY=VALUE KEY2" (after the path) into parameters; false on a syntax error.
template <typename Visit>
bool for_each_parameter(std::string_view text, Visit visit) {
  size_t i = 0;
  for (;;) {
    while (i < text.size() && text[i] == ' ') ++i;
    if (i == text.size()) return true;
    const size_t end = std::min(text.find(' ', i), text.size());
    const std::string_view item = text.substr(i, end - i);
    i = end;
    Parameter parameter;
    const size_t equals = item.find('=');
    parameter.keyword = item.substr(0, equals);
    if (equals != std::string_view::npos) {
      parameter.has_value = true;
      parameter.value = item.substr(equals + 1);
      if (!is_esmtp_value(parameter.value)) return false;
    }
    if (!is_esmtp_keyword(parameter.keyword)) return false;
    if (!visit(parameter)) return false;
  }
}

// RFC 1870 3: size-value ::= 1*20DIGIT; a value past uint64_t saturates (it is over any limit).
std::optional<uint64_t> parse_size_value(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  uint64_t value = 0;
  for (const char c : text) {
    if (!is_digit(c)) return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
      value = std::numeric_limits<uint64_t>::max();
    } else {
      value = value * 10 + digit;
    }
  }
  return value;
}

void fail(Command& command, CommandError error, std::string_view detail = {}) {
  command.error = error;
  command.error_detail = std::string(detail);
}

// RFC 3461 4: a DSN parameter given twice is an error; herald refuses any repeated
// parameter alike, so that no two values compete for one setting.
bool first_time(std::vector<std::string_view>& seen, std::string_view keyword) {
  const bool repeated = std::any_of(seen.begin(), seen.end(), [&](std::string_view k) {
    return equals_ignoring_ascii_case(k, keyword);
  });
  if (!repeated) seen.push_back(keyword);
  return !repeated;
}

// The parsers of the MAIL and RCPT parameters herald knows, one per keyword. Each takes the
// parameter as written and returns false on a syntax error (the caller reports it).
using ParameterParser = bool (*)(const Parameter&, Command&);

struct ParameterRule {
  std::string_view keyword;
  ParameterParser parse;
};

// RFC 1870 3: SIZE=size-value.
bool parse_size(const Parameter& p, Command& command) {
  if (!p.has_value) return false;
  command.mail.size = parse_size_value(p.value);
  return command.mail.size.has_value();
}

// RFC 6152 2: BODY=7BIT / BODY=8BITMIME.
bool parse_body(const Parameter& p, Command& command) {
  if (!p.has_value) return false;
  if (equals_ignoring_ascii_case(p.value, "7BIT")) {
    command.mail.body = BodyType::seven_bit;
  } else if (equals_ignoring_ascii_case(p.value, "8BITMIME")) {
    command.mail.body = BodyType::eight_bit_mime;
  } else if (equals_ignoring_ascii_case(p.value, "BINARYMIME")) {
    // RFC 3030 3: BINARYMIME is only for servers that announce it; herald does not.
    if (command.error == CommandError::none) {
      fail(command, CommandError::unsupported_parameter, "BODY=BINARYMIME");
    }
  } else {
    return false;
  }
  return true;
}

// RFC 6531 3.4: SMTPUTF8 takes no value.
bool parse_smtputf8(const Parameter& p, Command& command) {
  command.mail.smtputf8 = true;
  return !p.has_value;
}

// RFC 3461 4.3: RET=FULL / RET=HDRS.
bool parse_ret(const Parameter& p, Command& command) {
  if (!p.has_value) return false;
  if (equals_ignoring_ascii_case(p.value, "FULL")) {
    command.mail.ret = DsnReturn::full;
  } else if (equals_ignoring_ascii_case(p.value, "HDRS")) {
    command.mail.ret = DsnReturn::headers;
  } else {
    return false;
  }
  return true;
}

// RFC 3461 4.4: ENVID=xtext of at most 100 characters.
bool parse_envid(const Parameter& p, Command& command) {
  constexpr size_t kMaxEnvidChars = 100;
  if (!p.has_value || p.value.size() > kMaxEnvidChars) return false;
  std::optional<std::string> decoded = xtext_decode(p.value);
  if (!decoded) return false;
  command.mail.envid = std::move(*decoded);
  return true;
}

// RFC 2852 4: by-value = by-time ";" by-mode [by-trace], by-time = ["-" / "+"] 1*9digit,
// by-mode = "N" / "R", by-trace = "T".
bool parse_by(const Parameter& p, Command& command) {
  const size_t semicolon = p.value.find(';');
  if (!p.has_value || semicolon == std::string_view::npos) return false;
  std::string_view time = p.value.substr(0, semicolon);
  const std::string_view mode = p.value.substr(semicolon + 1);
  const bool negative = !time.empty() && time.front() == '-';
  if (!time.empty() && (time.front() == '-' || time.front() == '+')) time.remove_prefix(1);
  if (time.empty() || time.size() > 9) return false;
  DeliverByRequest by;
  for (const char c : time) {
    if (!is_digit(c)) return false;
    by.seconds = by.seconds * 10 + (c - '0');
  }
  if (negative) by.seconds = -by.seconds;
  if (mode.empty() || mode.size() > 2) return false;
  if (equals_ignoring_ascii_case(mode.substr(0, 1), "R")) {
    by.mode = DeliverByMode::return_if_late;
  } else if (!equals_ignoring_ascii_case(mode.substr(0, 1), "N")) {
    return false;
  }
  if (mode.size() == 2) {
    if (!equals_ignoring_ascii_case(mode.substr(1), "T")) return false;
    by.trace = true;
  }
  // RFC 2852 4: with by-mode R the by-time must be greater than zero (the message could
  // only be returned at once); N allows zero and below (notify that it is already late).
  if (by.mode == DeliverByMode::return_if_late && by.seconds <= 0) return false;
  command.mail.by = by;
  return true;
}

// RFC 6710 3: priority-value = ( ["-"] %x31-39 ) / "0".
bool parse_priority(const Parameter& p, Command& command) {
  if (p.has_value && p.value == "0") {
    command.mail.priority = 0;
    return true;
  }
  const bool negative = p.value.size() == 2 && p.value.front() == '-';
  const std::string_view digit = negative ? p.value.substr(1) : p.value;
  if (!p.has_value || digit.size() != 1 || digit.front() < '1' || digit.front() > '9') {
    return false;
  }
  command.mail.priority = (negative ? -1 : 1) * (digit.front() - '0');
  return true;
}

// RFC 3461 4.1: NOTIFY=NEVER, or a comma list of SUCCESS, FAILURE and DELAY (each once).
bool parse_notify(const Parameter& p, Command& command) {
  if (!p.has_value) return false;
  NotifyRequest& notify = command.rcpt.notify;
  notify.given = true;
  if (equals_ignoring_ascii_case(p.value, "NEVER")) return true;
  std::string_view rest = p.value;
  for (;;) {
    const size_t comma = std::min(rest.find(','), rest.size());
    const std::string_view item = rest.substr(0, comma);
    bool* flag = equals_ignoring_ascii_case(item, "SUCCESS")   ? &notify.success
                 : equals_ignoring_ascii_case(item, "FAILURE") ? &notify.failure
                 : equals_ignoring_ascii_case(item, "DELAY")   ? &notify.delay
                                                               : nullptr;
    if (flag == nullptr || *flag) return false;
    *flag = true;
    if (comma == rest.size()) return true;
    rest.remove_prefix(comma + 1);
  }
}

// RFC 3461 4.2: ORCPT=addr-type ";" xtext, addr-type an atom, at most 500 characters.
bool parse_orcpt(const Parameter& p, Command& command) {
  constexpr size_t kMaxOrcptChars = 500;
  const size_t semicolon = p.value.find(';');
  if (!p.has_value || p.value.size() > kMaxOrcptChars || semicolon == std::string_view::npos) {
    return false;
  }
  const std::string_view type = p.value.substr(0, semicolon);
  if (type.empty() || !std::all_of(type.begin(), type.end(), [](char c) { return is_atext(c); })) {
    return false;
  }
  const std::optional<std::string> address = xtext_decode(p.value.substr(semicolon + 1));
  if (!address || address->empty()) return false;
  command.rcpt.original_recipient = std::string(type) + ";" + *address;
  return true;
}

constexpr std::array<ParameterRule, 7> kMailParameters{{
    {"SIZE", parse_size},
    {"BODY", parse_body},
    {"SMTPUTF8", parse_smtputf8},
    {"RET", parse_ret},
    {"ENVID", parse_envid},
    {"BY", parse_by},
    {"MT-PRIORITY", parse_priority},
}};

constexpr std::array<ParameterRule, 2> kRcptParameters{{
    {"NOTIFY", parse_notify},
    {"ORCPT", parse_orcpt},
}};

// Applies one parameter by its rule; an unknown keyword is noted for a 555 (RFC 5321
// 4.1.1.11), and false means a syntax error.
template <size_t N>
bool apply_parameter(const std::array<ParameterRule, N>& rules, const Parameter& p,
                     Command& command, std::vector<std::string_view>& seen) {
  const auto rule = std::find_if(rules.begin(), rules.end(), [&](const ParameterRule& r) {
    return equals_ignoring_ascii_case(r.keyword, p.keyword);
  });
  if (rule == rules.end()) {
    if (command.error == CommandError::none) {
      fail(command, CommandError::unsupported_parameter, p.keyword);
    }
    return true;
  }
  return first_time(seen, p.keyword) && rule->parse(p, command);
}

// "FROM:" or "TO:" then the path; RFC 5321 4.1.1.2 has no space after the colon, but
// common clients send one and rejecting them helps nobody.
bool take_path_prefix(Cursor& in, std::string_view prefix) {
  if (!starts_with_ignoring_case(in.rest(), prefix)) return false;
  in.advance(prefix.size());
  while (in.take(' ')) {
  }
  return true;
}

void parse_mail(std::string_view arguments, Command& command) {
  Cursor in(arguments);
  if (!take_path_prefix(in, "FROM:")) return fail(command, CommandError::syntax);
  if (!parse_path(in, PathKind::reverse, command.path))
    return fail(command, CommandError::bad_path);
  const std::string_view rest = in.rest();
  if (!rest.empty() && rest.front() != ' ') return fail(command, CommandError::bad_path);
  std::vector<std::string_view> seen;
  const bool well_formed = for_each_parameter(
      rest, [&](const Parameter& p) { return apply_parameter(kMailParameters, p, command, seen); });
  if (!well_formed) fail(command, CommandError::syntax);
}

void parse_rcpt(std::string_view arguments, Command& command) {
  Cursor in(arguments);
  if (!take_path_prefix(in, "TO:")) return fail(command, CommandError::syntax);
  if (!parse_path(in, PathKind::forward, command.path))
    return fail(command, CommandError::bad_path);
  const std::string_view rest = in.rest();
  if (!rest.empty() && rest.front() != ' ') return fail(command, CommandError::bad_path);
  std::vector<std::string_view> seen;
  const bool well_formed = for_each_parameter(
      rest, [&](const Parameter& p) { return apply_parameter(kRcptParameters, p, command, seen); });
  if (!well_formed) fail(command, CommandError::syntax);
}

// RFC 5321 4.1.1.1 asks for "EHLO" SP ( Domain / address-literal ), but 4.1.4 forbids
// refusing mail because the name does not check out, and real clients send host names with
// underscores or no dots. So any one token of printable ASCII is taken as given; it is
// recorded, never trusted. RFC 6531 3.7.1: the name stays ASCII even with SMTPUTF8.
void parse_helo(std::string_view arguments, Command& command) {
  const bool one_printable_token =
      !arguments.empty() &&
      std::all_of(arguments.begin(), arguments.end(), [](char c) { return c > ' ' && c < 0x7f; });
  if (!one_printable_token) return fail(command, CommandError::syntax);
  command.helo_domain = std::string(arguments);
}

// RFC 3030 2: "BDAT" SP chunk-size [ SP end-marker ], end-marker = "LAST".
void parse_bdat(std::string_view arguments, Command& command) {
  const size_t space = std::min(arguments.find(' '), arguments.size());
  const std::string_view size = arguments.substr(0, space);
  const std::string_view marker = arguments.substr(std::min(space + 1, arguments.size()));
  if (size.empty() || size.size() > kMaxChunkSizeDigits) return fail(command, CommandError::syntax);
  for (const char c : size) {
    if (!is_digit(c)) return fail(command, CommandError::syntax);
    command.chunk_size = command.chunk_size * 10 + static_cast<uint64_t>(c - '0');
  }
  if (space == arguments.size()) return;
  if (!equals_ignoring_ascii_case(marker, "LAST")) return fail(command, CommandError::syntax);
  command.last_chunk = true;
}

struct VerbName {
  std::string_view name;
  Verb verb;
};

constexpr std::array<VerbName, 14> kVerbs{{
    {"HELO", Verb::helo},
    {"EHLO", Verb::ehlo},
    {"MAIL", Verb::mail},
    {"RCPT", Verb::rcpt},
    {"DATA", Verb::data},
    {"BDAT", Verb::bdat},
    {"RSET", Verb::rset},
    {"NOOP", Verb::noop},
    {"QUIT", Verb::quit},
    {"VRFY", Verb::vrfy},
    {"EXPN", Verb::expn},
    {"HELP", Verb::help},
    {"STARTTLS", Verb::starttls},
    {"AUTH", Verb::auth},
}};

Verb verb_of(std::string_view word) {
  for (const auto& entry : kVerbs) {
    if (equals_ignoring_ascii_case(word, entry.name)) return entry.verb;
  }
  return Verb::unknown;
}

bool needs_arguments(Verb verb) {
  switch (verb) {
    case Verb::helo:
    case Verb::ehlo:
    case Verb::mail:
    case Verb::rcpt:
    case Verb::bdat:
    case Verb::vrfy:
    case Verb::expn:
      return true;
    default:
      return false;
  }
}

void parse_arguments(std::string_view arguments, bool has_arguments, Command& command) {
  switch (command.verb) {
    case Verb::helo:
    case Verb::ehlo:
      parse_helo(arguments, command);
      break;
    case Verb::mail:
      parse_mail(arguments, command);
      break;
    case Verb::rcpt:
      parse_rcpt(arguments, command);
      break;
    case Verb::bdat:
      parse_bdat(arguments, command);
      break;
    case Verb::data:
    case Verb::rset:
    case Verb::quit:
    case Verb::starttls:  // RFC 3207 4: "STARTTLS" with no parameters
      if (has_arguments) fail(command, CommandError::syntax);
      break;
    case Verb::vrfy:
    case Verb::expn:
    case Verb::noop:
    case Verb::help:
    case Verb::auth:
      command.text = std::string(arguments);
      break;
    case Verb::unknown:
      break;
  }
}

std::string_view trim_trailing_spaces(std::string_view text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

std::string Path::address() const {
  if (domain.empty()) return local_part;
  return local_part + "@" + domain;
}

Command parse_command(std::string_view line) {
  Command command;
  line = trim_trailing_spaces(line);
  const size_t space = std::min(line.find(' '), line.size());
  command.verb = verb_of(line.substr(0, space));
  // RFC 5321 4.1.1: one space separates the verb from its arguments.
  const bool has_arguments = space < line.size();
  const std::string_view arguments = has_arguments ? line.substr(space + 1) : std::string_view();
  if (command.verb == Verb::unknown) {
    fail(command, CommandError::unrecognized);
  } else if (needs_arguments(command.verb) && !has_arguments) {
    fail(command, CommandError::syntax);
  } else {
    parse_arguments(arguments, has_arguments, command);
  }
  return command;
}

}  // namespace herald
