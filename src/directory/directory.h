// The directory answers "who is this address?" for local domains: a user's mailbox, an
// alias that expands to mailboxes, or nobody. It is built once from the configuration and
// is immutable afterwards, so every thread may query it without locking.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace herald {

// A local mailbox: the canonical, lower-case user address it belongs to.
struct Mailbox {
  std::string address;     // "alice@example.test"
  std::string local_part;  // "alice"
  std::string domain;      // "example.test"
};

struct RecipientLookup {
  enum class Kind {
    local,         // deliver to `mailboxes` (one for a user, one or more for an alias)
    unknown_user,  // the domain is ours, the address is not: 550 5.1.1
    not_local,     // the domain is not ours: relaying decides
  };
  Kind kind = Kind::not_local;
  std::vector<Mailbox> mailboxes;
};

class Directory {
 public:
  // `config` must already be validated (load_config does that).
  explicit Directory(const Config& config);

  bool is_local_domain(std::string_view domain) const;

  // Resolves an envelope address (no angle brackets). Domains compare case-insensitively,
  // and so do local parts (RFC 5321 2.4 allows a server to; every mail system users meet
  // does). Aliases expand recursively to distinct mailboxes; a cycle ends the expansion at
  // the repeated alias.
  RecipientLookup lookup(std::string_view address) const;

 private:
  void expand(const std::string& address, std::set<std::string>& seen,
              std::vector<Mailbox>& out) const;

  std::set<std::string, std::less<>> domains_;
  std::set<std::string, std::less<>> users_;
  std::map<std::string, std::vector<std::string>, std::less<>> aliases_;
};

}  // namespace herald
