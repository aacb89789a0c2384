// The directory answers "who is this address?" for local domains: a user's mailbox, an
// alias that expands to mailboxes and remote addresses to forward to, or nobody. It is built once
// from the configuration and is immutable afterwards, so every thread may query it without locking.
#pragma once

#include <functional>
#include <map>
#include <optional>
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
    local,         // deliver to `mailboxes` (one for a user, any number for an alias) and
                   // forward to `forwards` (an alias only); at least one of the two is set
    unknown_user,  // the domain is ours, the address is not: 550 5.1.1
    not_local,     // the domain is not ours: relaying decides
  };
  Kind kind = Kind::not_local;
  std::vector<Mailbox> mailboxes;
  std::vector<std::string> forwards;  // remote addresses, lower case, distinct
};

class Directory {
 public:
  // Checks a password against a crypt(3) hash (directory/password_hash.h's password_matches;
  // tests count the calls). Must be thread-safe.
  using PasswordCheck = std::function<bool(std::string_view hash, std::string_view password)>;

  // `config` must already be validated (load_config does that). Makes one dummy hash (one
  // crypt(3) run) for logins that name nobody.
  explicit Directory(const Config& config, PasswordCheck check_password = {});

  bool is_local_domain(std::string_view domain) const;

  // Resolves an envelope address (no angle brackets). Domains compare case-insensitively,
  // and so do local parts (RFC 5321 2.4 allows a server to; every mail system users meet
  // does). Aliases expand recursively to distinct mailboxes and distinct remote addresses; a
  // cycle ends the expansion at the repeated alias.
  RecipientLookup lookup(std::string_view address) const;

  // The canonical address of the user whose login name (their address, any case) and
  // password these are, or nullopt: unknown user, empty password_hash, wrong password.
  // Slow by design (crypt(3)): call it off the io threads. A login that names no user (or a
  // user without a password_hash) is checked against a dummy hash made with the first
  // user's scheme and cost, so that the time of the answer does not tell who exists.
  std::optional<std::string> authenticate(std::string_view login, std::string_view password) const;

  // May `user` (a canonical user address) send with `sender` as MAIL FROM? Yes for their
  // own address and for an alias whose expansion includes them; no for anything else.
  bool may_send_as(std::string_view user, std::string_view sender) const;

 private:
  void expand(const std::string& address, std::set<std::string>& seen, RecipientLookup& out) const;

  PasswordCheck check_password_;
  std::string dummy_hash_;  // same scheme and cost as the first password_hash; matches nothing
  std::set<std::string, std::less<>> domains_;
  std::map<std::string, std::string, std::less<>> users_;  // address -> password_hash
  std::map<std::string, std::vector<std::string>, std::less<>> aliases_;
};

}  // namespace herald
