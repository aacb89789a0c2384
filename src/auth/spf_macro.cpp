#include "auth/spf_macro.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "auth/spf_record.h"

namespace herald {
namespace {

std::string_view letter_value(char letter, const SpfMacroValues& values, std::string& scratch) {
  switch (letter) {
    case 's':
      return values.sender;
    case 'l':
      return values.local_part;
    case 'o':
      return values.sender_domain;
    case 'd':
      return values.domain;
    case 'i':
      return values.ip;
    case 'p':
      return values.validated_name;
    case 'v':
      return values.ipv6 ? "ip6" : "in-addr";
    case 'h':
      return values.helo;
    case 'c':
      return values.client_ip;
    case 'r':
      return values.receiver;
    default:
      scratch = std::to_string(values.timestamp);
      return scratch;
  }
}

// RFC 7208 7.3: split on the delimiters, optionally reverse, keep the rightmost `keep`
// parts (0: all), and join them with ".".
std::string transform(std::string_view value, size_t keep, bool reverse,
                      std::string_view delimiters) {
  if (delimiters.empty()) delimiters = ".";
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t end = value.find_first_of(delimiters, start);
    parts.push_back(value.substr(start, end == value.npos ? value.npos : end - start));
    if (end == value.npos) break;
    start = end + 1;
  }
  if (reverse) std::reverse(parts.begin(), parts.end());
  if (keep != 0 && keep < parts.size()) parts.erase(parts.begin(), parts.end() - keep);
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i != 0) out += '.';
    out += parts[i];
  }
  return out;
}

// RFC 7208 7.3: uppercase macro letters URL-escape their value (RFC 3986 2.3 unreserved
// characters stay as they are).
std::string url_escape(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

std::optional<std::string> expand_spf_macros(std::string_view text, const SpfMacroValues& values,
                                             bool explanation) {
  if (!is_valid_macro_string(text, explanation)) return std::nullopt;
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '%') {
      out += text[i++];
      continue;
    }
    char next = text[i + 1];
    // RFC 7208 7.1: "%%" is "%", "%_" a space, "%-" an escaped space.
    if (next == '%') {
      out += '%';
    } else if (next == '_') {
      out += ' ';
    } else if (next == '-') {
      out += "%20";
    }
    if (next != '{') {
      i += 2;
      continue;
    }
    size_t close = text.find('}', i);
    std::string_view macro = text.substr(i + 2, close - i - 2);
    i = close + 1;
    char letter = macro.front();
    bool escape = std::isupper(static_cast<unsigned char>(letter)) != 0;
    letter = static_cast<char>(std::tolower(static_cast<unsigned char>(letter)));
    macro.remove_prefix(1);
    size_t keep = 0;
    while (!macro.empty() && std::isdigit(static_cast<unsigned char>(macro.front()))) {
      // Capped: more parts than any name has means "all of them".
      keep = std::min<size_t>(keep * 10 + (macro.front() - '0'), 1000);
      macro.remove_prefix(1);
    }
    bool reverse = !macro.empty() && (macro.front() == 'r' || macro.front() == 'R');
    if (reverse) macro.remove_prefix(1);
    std::string scratch;
    std::string value = transform(letter_value(letter, values, scratch), keep, reverse, macro);
    out += escape ? url_escape(value) : value;
  }
  return out;
}

bool spf_macros_use(std::string_view text, char letter) {
  letter = static_cast<char>(std::tolower(static_cast<unsigned char>(letter)));
  for (size_t i = text.find("%{"); i != text.npos; i = text.find("%{", i + 1)) {
    if (i + 2 < text.size() && std::tolower(static_cast<unsigned char>(text[i + 2])) == letter) {
      return true;
    }
  }
  return false;
}

}  // namespace herald
