#include "auth/spf_record.h"

#include <arpa/inet.h>

#include <cctype>
#include <optional>

#include "util/ascii.h"

namespace herald {
namespace {

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
  return is_alpha(c) || is_digit(c);
}

// RFC 7208 7.1: delimiter = "." / "-" / "+" / "," / "/" / "_" / "="
bool is_delimiter(char c) {
  return c == '.' || c == '-' || c == '+' || c == ',' || c == '/' || c == '_' || c == '=';
}

// RFC 7208 7.1 macro-letter; c, r and t only in exp= text (RFC 7208 7.2).
bool is_macro_letter(char c, bool explanation) {
  switch (std::tolower(static_cast<unsigned char>(c))) {
    case 's':
    case 'l':
    case 'o':
    case 'd':
    case 'i':
    case 'p':
    case 'h':
    case 'v':
      return true;
    case 'c':
    case 'r':
    case 't':
      return explanation;
    default:
      return false;
  }
}

// Walks a macro-string; returns nullopt on a syntax error, otherwise the literal text after
// the last macro-expand (for the domain-end check) and whether the string ends in a
// macro-expand.
struct MacroScan {
  std::string_view literal_tail;
  bool ends_with_expand = false;
};

std::optional<MacroScan> scan_macro_string(std::string_view text, bool explanation) {
  MacroScan scan;
  size_t tail_start = 0;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c != '%') {
      // RFC 7208 7.1 macro-literal = %x21-24 / %x26-7E (visible ASCII except "%");
      // RFC 7208 12 explain-string = *( macro-string / SP ).
      if ((c < 0x21 || c > 0x7e) && !(explanation && c == ' ')) return std::nullopt;
      ++i;
      continue;
    }
    if (i + 1 >= text.size()) return std::nullopt;
    char next = text[i + 1];
    if (next == '%' || next == '_' || next == '-') {
      i += 2;
    } else if (next == '{') {
      size_t j = i + 2;
      if (j >= text.size() || !is_macro_letter(text[j], explanation)) return std::nullopt;
      ++j;
      // RFC 7208 7.1 transformers = *DIGIT [ "r" ]; 7.3: a DIGIT transformer is nonzero.
      size_t digits_start = j;
      while (j < text.size() && is_digit(text[j])) ++j;
      if (j > digits_start) {
        std::string_view digits = text.substr(digits_start, j - digits_start);
        if (digits.find_first_not_of('0') == std::string_view::npos) return std::nullopt;
      }
      if (j < text.size() && (text[j] == 'r' || text[j] == 'R')) ++j;
      while (j < text.size() && is_delimiter(text[j])) ++j;
      if (j >= text.size() || text[j] != '}') return std::nullopt;
      i = j + 1;
    } else {
      return std::nullopt;
    }
    tail_start = i;
  }
  scan.literal_tail = text.substr(tail_start);
  scan.ends_with_expand = tail_start > 0 && tail_start == text.size();
  return scan;
}

// RFC 7208 7.1 toplabel = ( *alphanum ALPHA *alphanum ) /
//                         ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
bool is_toplabel(std::string_view label) {
  if (label.empty() || !is_alnum(label.front()) || !is_alnum(label.back())) return false;
  bool has_alpha = false;
  bool has_dash = false;
  for (char c : label) {
    if (is_alpha(c)) {
      has_alpha = true;
    } else if (c == '-') {
      has_dash = true;
    } else if (!is_digit(c)) {
      return false;
    }
  }
  return has_alpha || has_dash;
}

// RFC 7208 7.1 domain-spec = macro-string domain-end,
// domain-end = ( "." toplabel [ "." ] ) / macro-expand
bool is_domain_spec(std::string_view text) {
  auto scan = scan_macro_string(text, false);
  if (!scan || text.empty()) return false;
  if (scan->ends_with_expand) return true;
  std::string_view tail = scan->literal_tail;
  if (!tail.empty() && tail.back() == '.') tail.remove_suffix(1);
  size_t dot = tail.rfind('.');
  if (dot == std::string_view::npos) return false;
  return is_toplabel(tail.substr(dot + 1));
}

// "0" / %x31-39 0*N DIGIT, at most `max`: RFC 7208 5.6 ip4-cidr-length and ip6-cidr-length.
std::optional<int> parse_prefix(std::string_view digits, int max) {
  if (digits.empty() || digits.size() > 3) return std::nullopt;
  if (digits.size() > 1 && digits.front() == '0') return std::nullopt;
  int value = 0;
  for (char c : digits) {
    if (!is_digit(c)) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  if (value > max) return std::nullopt;
  return value;
}

bool all_digits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!is_digit(c)) return false;
  }
  return true;
}

// RFC 7208 5.3 and 5.4: a and mx take [ ":" domain-spec ] [ dual-cidr-length ], where
// dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ]. The CIDR part is
// peeled off the end, since "/" may also appear inside a macro-string.
std::optional<std::string> take_dual_cidr(std::string_view& rest, SpfMechanism& mechanism) {
  size_t double_slash = rest.rfind("//");
  if (double_slash != std::string_view::npos && all_digits(rest.substr(double_slash + 2))) {
    auto prefix = parse_prefix(rest.substr(double_slash + 2), 128);
    if (!prefix) return "invalid IPv6 prefix length";
    mechanism.ip6_prefix = *prefix;
    rest = rest.substr(0, double_slash);
  }
  size_t slash = rest.rfind('/');
  if (slash != std::string_view::npos && all_digits(rest.substr(slash + 1))) {
    auto prefix = parse_prefix(rest.substr(slash + 1), 32);
    if (!prefix) return "invalid IPv4 prefix length";
    mechanism.ip4_prefix = *prefix;
    rest = rest.substr(0, slash);
  }
  return std::nullopt;
}

// RFC 7208 5.6 ip4-network = qnum "." qnum "." qnum "." qnum, qnum without leading zeros.
bool is_ip4_network(std::string_view text) {
  int parts = 0;
  size_t start = 0;
  while (true) {
    size_t dot = text.find('.', start);
    std::string_view part =
        text.substr(start, dot == std::string_view::npos ? text.npos : dot - start);
    if (!parse_prefix(part, 255)) return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts == 4;
}

bool is_ip6_network(std::string_view text) {
  in6_addr address;
  return inet_pton(AF_INET6, std::string(text).c_str(), &address) == 1;
}

std::optional<std::string> parse_ip_mechanism(std::string_view rest, SpfMechanism& mechanism) {
  bool v6 = mechanism.kind == SpfMechanismKind::ip6;
  if (rest.empty() || rest.front() != ':') return "ip4 and ip6 need \":\" and an address";
  rest.remove_prefix(1);
  size_t slash = rest.find('/');
  if (slash != std::string_view::npos) {
    auto prefix = parse_prefix(rest.substr(slash + 1), v6 ? 128 : 32);
    if (!prefix) return "invalid prefix length in \"" + std::string(rest) + "\"";
    (v6 ? mechanism.ip6_prefix : mechanism.ip4_prefix) = *prefix;
    rest = rest.substr(0, slash);
  }
  if (v6 ? !is_ip6_network(rest) : !is_ip4_network(rest)) {
    return "invalid address \"" + std::string(rest) + "\"";
  }
  mechanism.network = std::string(rest);
  return std::nullopt;
}

// One directive (RFC 7208 4.6.1): [qualifier] mechanism.
std::optional<std::string> parse_directive(std::string_view term, SpfRecord& record) {
  SpfMechanism mechanism;
  switch (term.front()) {
    case '+':
      mechanism.qualifier = SpfQualifier::pass;
      term.remove_prefix(1);
      break;
    case '-':
      mechanism.qualifier = SpfQualifier::fail;
      term.remove_prefix(1);
      break;
    case '~':
      mechanism.qualifier = SpfQualifier::softfail;
      term.remove_prefix(1);
      break;
    case '?':
      mechanism.qualifier = SpfQualifier::neutral;
      term.remove_prefix(1);
      break;
    default:
      break;
  }
  size_t name_end = 0;
  while (name_end < term.size() && is_alnum(term[name_end])) ++name_end;
  std::string_view name = term.substr(0, name_end);
  std::string_view rest = term.substr(name_end);
  const std::string unknown = "unknown mechanism \"" + std::string(term) + "\"";

  static constexpr std::pair<std::string_view, SpfMechanismKind> kNames[] = {
      {"all", SpfMechanismKind::all}, {"include", SpfMechanismKind::include},
      {"a", SpfMechanismKind::a},     {"mx", SpfMechanismKind::mx},
      {"ptr", SpfMechanismKind::ptr}, {"ip4", SpfMechanismKind::ip4},
      {"ip6", SpfMechanismKind::ip6}, {"exists", SpfMechanismKind::exists}};
  bool known = false;
  for (auto [known_name, kind] : kNames) {
    if (equals_ignoring_ascii_case(name, known_name)) {
      mechanism.kind = kind;
      known = true;
    }
  }
  if (!known) return unknown;

  switch (mechanism.kind) {
    case SpfMechanismKind::all:
      // RFC 7208 5.1: "all" takes no arguments.
      if (!rest.empty()) return unknown;
      break;
    case SpfMechanismKind::ip4:
    case SpfMechanismKind::ip6:
      if (auto error = parse_ip_mechanism(rest, mechanism)) return error;
      break;
    case SpfMechanismKind::include:
    case SpfMechanismKind::exists:
      // RFC 7208 5.2 and 5.7: the domain-spec is required.
      if (rest.empty() || rest.front() != ':')
        return "\"" + std::string(name) + "\" needs a domain";
      rest.remove_prefix(1);
      if (!is_domain_spec(rest)) return "invalid domain-spec \"" + std::string(rest) + "\"";
      mechanism.domain_spec = std::string(rest);
      break;
    case SpfMechanismKind::a:
    case SpfMechanismKind::mx:
    case SpfMechanismKind::ptr:
      if (mechanism.kind != SpfMechanismKind::ptr) {
        if (auto error = take_dual_cidr(rest, mechanism)) return error;
      }
      if (!rest.empty()) {
        if (rest.front() != ':') return unknown;
        rest.remove_prefix(1);
        if (!is_domain_spec(rest)) return "invalid domain-spec \"" + std::string(rest) + "\"";
        mechanism.domain_spec = std::string(rest);
      }
      break;
  }
  record.mechanisms.push_back(std::move(mechanism));
  return std::nullopt;
}

// One modifier (RFC 7208 6): name "=" macro-string.
std::optional<std::string> parse_modifier(std::string_view name, std::string_view value,
                                          SpfRecord& record) {
  // RFC 7208 12: name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
  if (name.empty() || !is_alpha(name.front())) return "invalid modifier name";
  for (char c : name) {
    if (!is_alnum(c) && c != '-' && c != '_' && c != '.') return "invalid modifier name";
  }
  auto set_once = [&](std::optional<std::string>& slot) -> std::optional<std::string> {
    // RFC 7208 6: redirect= and exp= each appear at most once.
    if (slot) return "\"" + std::string(name) + "=\" appears twice";
    if (!is_domain_spec(value)) return "invalid domain-spec \"" + std::string(value) + "\"";
    slot = std::string(value);
    return std::nullopt;
  };
  if (equals_ignoring_ascii_case(name, "redirect")) return set_once(record.redirect);
  if (equals_ignoring_ascii_case(name, "exp")) return set_once(record.explanation);
  // RFC 7208 6: unknown modifiers are ignored, but their values must still be macro-strings.
  if (!is_valid_macro_string(value, false)) {
    return "invalid macro-string in modifier \"" + std::string(name) + "\"";
  }
  return std::nullopt;
}

}  // namespace

bool is_spf_record(std::string_view text) {
  constexpr std::string_view kVersion = "v=spf1";
  return text.size() >= kVersion.size() &&
         equals_ignoring_ascii_case(text.substr(0, kVersion.size()), kVersion) &&
         (text.size() == kVersion.size() || text[kVersion.size()] == ' ');
}

bool is_valid_macro_string(std::string_view text, bool explanation) {
  return scan_macro_string(text, explanation).has_value();
}

std::variant<SpfRecord, SpfSyntaxError> parse_spf_record(std::string_view text) {
  if (!is_spf_record(text)) return SpfSyntaxError{"not an SPF record (no \"v=spf1\")"};
  // RFC 7208 3.1: SPF records are 7-bit ASCII.
  for (char c : text) {
    if (static_cast<unsigned char>(c) > 0x7e || static_cast<unsigned char>(c) < 0x20) {
      return SpfSyntaxError{"the record contains a control or non-ASCII byte"};
    }
  }
  SpfRecord record;
  std::string_view rest = text.substr(6);
  // RFC 7208 4.6.1: terms = *( 1*SP ( directive / modifier ) ), record = version terms *SP.
  while (!rest.empty()) {
    size_t start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    size_t end = rest.find(' ');
    std::string_view term = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);

    // A modifier's name is followed by "=" before any ":" or "/" (RFC 7208 4.6.1).
    size_t equals = term.find('=');
    size_t separator = term.find_first_of(":/");
    std::optional<std::string> error;
    if (equals != std::string_view::npos &&
        (separator == std::string_view::npos || equals < separator)) {
      error = parse_modifier(term.substr(0, equals), term.substr(equals + 1), record);
    } else {
      error = parse_directive(term, record);
    }
    if (error) return SpfSyntaxError{std::move(*error)};
  }
  return record;
}

}  // namespace herald
