#include "smtp/command.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>

#include "smtp/mail_parameters.h"
#include "smtp/syntax_chars.h"
#include "util/ascii.h"
#include "util/utf8.h"

namespace herald {
namespace {

using smtp_syntax::is_atext;
using smtp_syntax::is_digit;
using smtp_syntax::is_let_dig;

// RFC 5321 4.5.3.1: the longest path (with its brackets) and domain a server must accept.
constexpr size_t kMaxPathOctets = 256;
constexpr size_t kMaxDomainOctets = 255;
constexpr size_t kMaxLabelOctets = 63;      // RFC 1035 2.3.4
constexpr size_t kMaxChunkSizeDigits = 18;  // any BDAT chunk fits in uint64_t

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         equals_ignoring_ascii_case(text.substr(0, prefix.size()), prefix);
}

// RFC 5321 4.1.2 qtextSMTP: printable ASCII and space, except '"' and '\'.
bool is_qtext(unsigned char c) {
  return c >= 32 && c <= 126 && c != '"' && c != '\\';
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

void fail(Command& command, CommandError error, std::string_view detail = {}) {
  command.error = error;
  command.error_detail = std::string(detail);
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
  if (!parse_mail_parameters(rest, command)) fail(command, CommandError::syntax);
}

void parse_rcpt(std::string_view arguments, Command& command) {
  Cursor in(arguments);
  if (!take_path_prefix(in, "TO:")) return fail(command, CommandError::syntax);
  if (!parse_path(in, PathKind::forward, command.path))
    return fail(command, CommandError::bad_path);
  const std::string_view rest = in.rest();
  if (!rest.empty() && rest.front() != ' ') return fail(command, CommandError::bad_path);
  if (!parse_rcpt_parameters(rest, command)) fail(command, CommandError::syntax);
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
