#include "smtp/mail_parameters.h"

#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "mime/xtext.h"
#include "smtp/syntax_chars.h"
#include "util/ascii.h"
#include "util/utf8.h"

namespace herald {
namespace {

using smtp_syntax::is_atext;
using smtp_syntax::is_digit;
using smtp_syntax::is_let_dig;

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

// Notes what the session must answer; the first note stands.
void note_unsupported(Command& command, std::string_view keyword) {
  if (command.error != CommandError::none) return;
  command.error = CommandError::unsupported_parameter;
  command.error_detail = std::string(keyword);
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
    note_unsupported(command, "BODY=BINARYMIME");
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
    note_unsupported(command, p.keyword);
    return true;
  }
  return first_time(seen, p.keyword) && rule->parse(p, command);
}

}  // namespace

bool parse_mail_parameters(std::string_view text, Command& command) {
  std::vector<std::string_view> seen;
  return for_each_parameter(
      text, [&](const Parameter& p) { return apply_parameter(kMailParameters, p, command, seen); });
}

bool parse_rcpt_parameters(std::string_view text, Command& command) {
  std::vector<std::string_view> seen;
  return for_each_parameter(
      text, [&](const Parameter& p) { return apply_parameter(kRcptParameters, p, command, seen); });
}

}  // namespace herald
