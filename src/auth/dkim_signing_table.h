// Which keys sign outgoing mail of which domain: the [[dkim]] entries, loaded once at
// start-up. Several entries for one domain sign every message of it once each, as RFC 8463
// 6 recommends for an RSA and an Ed25519 key side by side; a new selector next to the old
// one is how a key is rotated.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "auth/dkim_sign.h"
#include "config/config.h"

namespace herald {

// Immutable after construction; thread-safe to read.
class DkimSigningTable {
 public:
  // Loads the key of every entry. Throws ConfigError naming the entry (domain, selector and
  // why: unreadable file, not a PEM private key, a weak RSA key) when one cannot be used,
  // so that heraldd refuses to start rather than send unsigned mail.
  explicit DkimSigningTable(const std::vector<DkimConfig>& entries);

  bool empty() const { return by_domain_.empty(); }

  // The signers of mail whose RFC5322.From domain is `from_domain` (any case): the entries
  // of that domain; if it has none, those of its nearest parent within its organizational
  // domain (RFC 7489 3.2), so that the signature still aligns under relaxed DKIM alignment
  // (RFC 7489 3.1.1); none when no such domain has entries. The span is valid while the
  // table is.
  std::span<const DkimSigner> signers_for(std::string_view from_domain) const;

 private:
  std::map<std::string, std::vector<DkimSigner>, std::less<>> by_domain_;  // lower case
};

}  // namespace herald
