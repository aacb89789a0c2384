#include "directory/directory.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "directory/password_hash.h"
#include "util/ascii.h"

namespace herald {
namespace {

Mailbox mailbox_of(const std::string& address) {
  const auto at = address.rfind('@');
  return Mailbox{address, address.substr(0, at), address.substr(at + 1)};
}

}  // namespace

Directory::Directory(const Config& config, PasswordCheck check_password)
    : check_password_(check_password ? std::move(check_password)
                                     : PasswordCheck(password_matches)) {
  for (const auto& d : config.domains) domains_.insert(d.name);
  for (const auto& u : config.users) users_.emplace(u.address, u.password_hash);
  for (const auto& a : config.aliases) aliases_.emplace(a.address, a.to);
  const auto with_hash = std::find_if(config.users.begin(), config.users.end(),
                                      [](const UserConfig& u) { return !u.password_hash.empty(); });
  dummy_hash_ = dummy_password_hash(with_hash == config.users.end() ? std::string_view()
                                                                    : with_hash->password_hash);
}

bool Directory::is_local_domain(std::string_view domain) const {
  return domains_.count(ascii_lower(domain)) > 0;
}

RecipientLookup Directory::lookup(std::string_view address_in) const {
  RecipientLookup result;
  const std::string address = ascii_lower(address_in);
  const auto at = address.rfind('@');
  if (at == std::string::npos || !is_local_domain(std::string_view(address).substr(at + 1))) {
    result.kind = RecipientLookup::Kind::not_local;
    return result;
  }
  std::set<std::string> seen;
  expand(address, seen, result);
  result.kind = result.mailboxes.empty() && result.forwards.empty()
                    ? RecipientLookup::Kind::unknown_user
                    : RecipientLookup::Kind::local;
  return result;
}

std::optional<std::string> Directory::authenticate(std::string_view login,
                                                   std::string_view password) const {
  const auto user = users_.find(ascii_lower(login));
  if (user == users_.end() || user->second.empty()) {
    // The same crypt(3) work as for a real user, whose answer is thrown away.
    check_password_(dummy_hash_, password);
    return std::nullopt;
  }
  if (!check_password_(user->second, password)) return std::nullopt;
  return user->first;
}

bool Directory::may_send_as(std::string_view user, std::string_view sender) const {
  const std::string canonical_user = ascii_lower(user);
  const RecipientLookup found = lookup(sender);
  return found.kind == RecipientLookup::Kind::local &&
         std::any_of(found.mailboxes.begin(), found.mailboxes.end(),
                     [&](const Mailbox& m) { return m.address == canonical_user; });
}

// `seen` holds every address met on the way, so each mailbox and each forward is added once
// and a cycle stops at its first repeat.
void Directory::expand(const std::string& address, std::set<std::string>& seen,
                       RecipientLookup& out) const {
  if (!seen.insert(address).second) return;
  if (users_.count(address)) {
    out.mailboxes.push_back(mailbox_of(address));
    return;
  }
  if (auto it = aliases_.find(address); it != aliases_.end()) {
    for (const auto& target : it->second) expand(target, seen, out);
    return;
  }
  // load_config let only remote addresses be neither users nor aliases.
  if (!is_local_domain(std::string_view(address).substr(address.rfind('@') + 1)))
    out.forwards.push_back(address);
}

}  // namespace herald
