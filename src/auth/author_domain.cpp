#include "auth/author_domain.h"

#include <vector>

#include "auth/dkim_canonical.h"
#include "util/ascii.h"

namespace herald {
namespace {

// The value of a raw "From: …\r\n" field, comments removed (RFC 5322 3.2.2; they nest),
// folding kept as spaces, quoted strings kept whole with their quotes.
std::string value_without_comments(std::string_view raw) {
  const size_t colon = raw.find(':');
  std::string out;
  int depth = 0;
  bool quoted = false;
  for (size_t i = colon + 1; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '\\' && i + 1 < raw.size() && (quoted || depth > 0)) {
      if (depth == 0) out.append(raw.substr(i, 2));
      ++i;
    } else if (quoted) {
      out += c;
      if (c == '"') quoted = false;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')' && depth > 0) {
      --depth;
    } else if (depth == 0) {
      if (c == '"') quoted = true;
      out += (c == '\r' || c == '\n' || c == '\t') ? ' ' : c;
    }
  }
  return out;
}

// The mailboxes of an address list, split at commas outside quotes and angle brackets. A
// group ("name: a@x, b@y;") gives its members.
std::vector<std::string> mailboxes(const std::string& value) {
  std::vector<std::string> out;
  std::string current;
  bool quoted = false;
  bool angle = false;
  for (const char c : value) {
    if (c == '"') quoted = !quoted;
    if (!quoted && c == '<') angle = true;
    if (!quoted && c == '>') angle = false;
    if (!quoted && !angle && (c == ',' || c == ';')) {
      out.push_back(current);
      current.clear();
    } else if (!quoted && !angle && c == ':') {
      current.clear();  // a group's display name
    } else {
      current += c;
    }
  }
  out.push_back(current);
  return out;
}

// The domain of one mailbox: inside the angle brackets when there are some, else the
// addr-spec itself; "" when it has no "@domain".
std::string domain_of_mailbox(std::string_view mailbox) {
  if (const size_t open = mailbox.rfind('<'); open != std::string_view::npos) {
    const size_t close = mailbox.find('>', open);
    mailbox = mailbox.substr(open + 1, close == std::string_view::npos ? close : close - open - 1);
  }
  const size_t at = mailbox.rfind('@');
  if (at == std::string_view::npos) return "";
  std::string_view domain = mailbox.substr(at + 1);
  while (!domain.empty() && (domain.front() == ' ' || domain.front() == '[')) domain.remove_prefix(1);
  while (!domain.empty() && (domain.back() == ' ' || domain.back() == ']' || domain.back() == '.'))
    domain.remove_suffix(1);
  if (domain.find_first_of(" \"<>@,;") != std::string_view::npos) return "";
  return ascii_lower(domain);
}

bool is_blank(std::string_view text) {
  return text.find_first_not_of(' ') == std::string_view::npos;
}

}  // namespace

AuthorDomain author_domain(std::string_view message) {
  const DkimMessageParts parts = split_dkim_message(message);
  std::string_view from;
  for (const DkimHeaderField& field : parts.headers) {
    if (!equals_ignoring_ascii_case(field.name, "from")) continue;
    if (!from.empty()) return {"", "the message has more than one From field"};
    from = field.raw;
  }
  if (from.empty()) return {"", "the message has no From field"};
  std::string domain;
  for (const std::string& mailbox : mailboxes(value_without_comments(from))) {
    if (is_blank(mailbox)) continue;
    const std::string found = domain_of_mailbox(mailbox);
    if (found.empty()) return {"", "the From field has an address without a domain"};
    if (!domain.empty() && found != domain) {
      return {"", "the From field names mailboxes in different domains"};
    }
    domain = found;
  }
  if (domain.empty()) return {"", "the From field has no address"};
  return {domain, ""};
}

}  // namespace herald
