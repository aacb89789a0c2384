#include "auth/authentication_results.h"

#include <algorithm>
#include <cctype>

#include "mime/header.h"
#include "util/ascii.h"

namespace herald {
namespace {

constexpr std::string_view kFieldName = "Authentication-Results";

// RFC 2045 5.1 token: printable ASCII except space and tspecials.
bool is_token(std::string_view value) {
  constexpr std::string_view tspecials = "()<>@,;:\\\"/[]?=";
  return !value.empty() && std::all_of(value.begin(), value.end(), [&](char c) {
    return c > ' ' && c < 0x7f && tspecials.find(c) == std::string_view::npos;
  });
}

// RFC 8601 2.3: a property value is a value (token or quoted-string), or an addr-spec /
// domain name, which may carry "@" and "." unquoted.
bool is_plain_value(std::string_view value) {
  return !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("@.-_+=/").find(c) != std::string_view::npos;
  });
}

std::string quoted(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// A comment may not hold unbalanced parentheses or backslashes; they become spaces.
std::string comment(std::string_view text) {
  std::string out;
  for (char c : text) out += (c == '(' || c == ')' || c == '\\') ? ' ' : c;
  return "(" + out + ")";
}

// The authserv-id of an Authentication-Results value: the first token after comments and
// whitespace, up to ";" or space.
std::string authserv_id_of(std::string_view value) {
  size_t i = 0;
  int depth = 0;
  while (i < value.size()) {
    const char c = value[i];
    if (c == '(')
      ++depth;
    else if (c == ')' && depth > 0)
      --depth;
    else if (depth == 0 && !std::isspace(static_cast<unsigned char>(c)))
      break;
    ++i;
  }
  size_t end = i;
  while (end < value.size() && value[end] != ';' && value[end] != '(' &&
         !std::isspace(static_cast<unsigned char>(value[end]))) {
    ++end;
  }
  return ascii_lower(value.substr(i, end - i));
}

bool is_field_named(std::string_view field, std::string_view name) {
  return field.size() > name.size() && field[name.size()] == ':' &&
         ascii_lower(field.substr(0, name.size())) == ascii_lower(name);
}

}  // namespace

std::string authentication_results_payload(const std::vector<AuthResult>& results) {
  if (results.empty()) return "none";
  std::string value;
  for (const AuthResult& r : results) {
    if (!value.empty()) value += "; ";
    value += r.method + "=" + r.result;
    if (!r.reason.empty()) value += " " + comment(r.reason);
    for (const auto& [property, text] : r.properties) {
      value +=
          " " + property + "=" + (is_plain_value(text) || is_token(text) ? text : quoted(text));
    }
  }
  return value;
}

std::string authentication_results_field(std::string_view authserv_id,
                                         const std::vector<AuthResult>& results) {
  return header_field(kFieldName,
                      std::string(authserv_id) + "; " + authentication_results_payload(results));
}

void remove_own_authentication_results(std::string& content, std::string_view authserv_id) {
  const std::string own = ascii_lower(authserv_id);
  // One pass that compacts in place: fields kept are moved down over the removed ones, so a
  // header made of nothing but forged fields costs one read and one write of each octet, not
  // a move of the rest of the message per field (RFC 8601 5 says what to remove, not how).
  size_t read = 0;
  size_t write = 0;
  // Header fields end where a line does not start with whitespace (RFC 5322 2.2.3); the
  // header section ends at the first empty line.
  while (read < content.size()) {
    if (content.compare(read, 2, "\r\n") == 0) break;
    size_t end = content.find("\r\n", read);
    while (end != std::string::npos && end + 2 < content.size() &&
           (content[end + 2] == ' ' || content[end + 2] == '\t')) {
      end = content.find("\r\n", end + 2);
    }
    end = end == std::string::npos ? content.size() : end + 2;
    const std::string_view field = std::string_view(content).substr(read, end - read);
    const bool forged = is_field_named(field, kFieldName) &&
                        authserv_id_of(field.substr(kFieldName.size() + 1)) == own;
    if (!forged) {
      // Forward copy within one string: the destination starts before the source.
      if (write != read)
        std::copy(content.begin() + read, content.begin() + end, content.begin() + write);
      write += end - read;
    }
    read = end;
  }
  if (write == read) return;  // nothing removed: the content was not touched
  // The body (and the blank line before it) moves down once.
  content.erase(write, read - write);
}

}  // namespace herald
