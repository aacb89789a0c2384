#include "mime/from_domain.h"

#include <vector>

#include "util/ascii.h"

namespace herald {
namespace {

bool is_wsp(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && is_wsp(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_wsp(text.back())) text.remove_suffix(1);
  return text;
}

// The unfolded values (RFC 5322 2.2.3) of every `name` field in the header section.
std::vector<std::string> field_values(std::string_view message, std::string_view name) {
  std::vector<std::string> values;
  bool in_from = false;  // whether continuation lines belong to a From field
  while (!message.empty()) {
    const size_t end = message.find('\n');
    std::string_view line = message.substr(0, end);
    message = end == std::string_view::npos ? std::string_view() : message.substr(end + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.empty()) break;  // RFC 5322 2.1: the header section ends at the first empty line
    if (is_wsp(line.front())) {
      if (in_from) values.back().append(line);
      continue;
    }
    const size_t colon = line.find(':');
    // RFC 5322 4.5 (obsolete syntax): white space may precede the colon.
    in_from = colon != std::string_view::npos &&
              equals_ignoring_ascii_case(trimmed(line.substr(0, colon)), name);
    if (in_from) values.emplace_back(line.substr(colon + 1));
  }
  return values;
}

// The addresses (addr-spec, with quoted strings blanked and comments dropped) of a
// mailbox-list or group value (RFC 5322 3.4): the angle-addr of a name-addr, else the
// mailbox itself.
class AddressScanner {
 public:
  std::vector<std::string> scan(std::string_view value) {
    for (size_t i = 0; i < value.size(); ++i) {
      const char c = value[i];
      if (comment_depth_ > 0 || quoted_) {
        i += inside_comment_or_quote(c);
        continue;
      }
      switch (c) {
        case '(':
          comment_depth_ = 1;
          break;
        case '"':
          quoted_ = true;
          text() += 'q';  // a quoted local part cannot hold the domain: keep a placeholder
          break;
        case '<':
          in_angle_ = saw_angle_ = true;
          angle_.clear();
          break;
        case '>':
          in_angle_ = false;
          break;
        case ':':
          // In an angle-addr it ends an obsolete route (RFC 5322 4.4); outside, it ends a
          // group's display name (3.4).
          text().clear();
          break;
        case ',':
        case ';':
          if (in_angle_) break;
          finish_mailbox();
          break;
        default:
          if (!is_wsp(c)) text() += c;
      }
    }
    finish_mailbox();
    return addresses_;
  }

 private:
  // Handles `c` inside a comment or quoted string; returns 1 when a quoted-pair also took
  // the next character.
  size_t inside_comment_or_quote(char c) {
    if (c == '\\') return 1;  // RFC 5322 3.2.1 quoted-pair
    if (quoted_) {
      quoted_ = c != '"';
    } else if (c == '(') {
      ++comment_depth_;  // RFC 5322 3.2.2: comments nest
    } else if (c == ')') {
      --comment_depth_;
    }
    return 0;
  }

  std::string& text() { return in_angle_ ? angle_ : plain_; }

  void finish_mailbox() {
    std::string address = saw_angle_ ? angle_ : plain_;
    if (!address.empty()) addresses_.push_back(std::move(address));
    plain_.clear();
    angle_.clear();
    saw_angle_ = in_angle_ = false;
  }

  int comment_depth_ = 0;
  bool quoted_ = false;
  bool in_angle_ = false;
  bool saw_angle_ = false;
  std::string plain_;  // the mailbox outside any angle brackets
  std::string angle_;  // inside the last angle brackets
  std::vector<std::string> addresses_;
};

std::variant<std::string, FromDomainError> domain_of(const std::string& address) {
  const size_t at = address.rfind('@');
  if (at == std::string::npos) return FromDomainError{"From address has no domain"};
  std::string domain = ascii_lower(address.substr(at + 1));
  if (domain.ends_with('.')) domain.pop_back();
  if (domain.empty() || domain.front() == '[') {
    return FromDomainError{"From address has no domain name"};
  }
  return domain;
}

}  // namespace

std::variant<std::string, FromDomainError> rfc5322_from_domain(std::string_view message) {
  const std::vector<std::string> values = field_values(message, "from");
  if (values.empty()) return FromDomainError{"no From field"};
  if (values.size() > 1) return FromDomainError{"more than one From field"};
  const std::vector<std::string> addresses = AddressScanner().scan(values.front());
  if (addresses.empty()) return FromDomainError{"From field has no address"};
  std::string found;
  for (const std::string& address : addresses) {
    auto domain = domain_of(address);
    if (auto* error = std::get_if<FromDomainError>(&domain)) return *error;
    std::string& name = std::get<std::string>(domain);
    // RFC 7489 6.6.1: several authors in different domains leave no single domain to use.
    if (!found.empty() && name != found) return FromDomainError{"From names several domains"};
    found = std::move(name);
  }
  return found;
}

std::vector<std::vector<std::string>> rfc5322_field_addresses(std::string_view message,
                                                              std::string_view name) {
  std::vector<std::vector<std::string>> fields;
  for (const std::string& value : field_values(message, name)) {
    fields.push_back(AddressScanner().scan(value));
  }
  return fields;
}

}  // namespace herald
