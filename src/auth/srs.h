// The Sender Rewriting Scheme (Shevek, "Sender Rewriting Scheme", 2004; as libsrs2 and
// postsrsd write it), so that mail herald forwards keeps passing SPF at the next hop and its
// bounces find the original sender. A forwarded copy leaves with a return path in herald's
// SRS domain that herald signed:
//
//   SRS0=HHHHHHHH=TT=orig.domain=local@srs.domain      (sender local@orig.domain)
//   SRS1=HHHHHHHH=first.forwarder==HHHH=TT=orig.domain=local@srs.domain
//                                                       (sender SRS0…@first.forwarder)
//
// HHHHHHHH: 8 base32 characters (40 bits) of HMAC-SHA256(secret, the lower-cased fields that
// follow), compared case-insensitively because some MTAs fold local parts. (libsrs2 and
// postsrsd write 4 base64 characters of HMAC-SHA1, about 21 bits once case is ignored; herald
// does not accept that shorter form, so a bounce to an address herald made before this change
// is refused as not signed.) TT: the day
// (days since the Unix epoch, modulo 1024) in 2 base32 characters, for the age check. A bounce
// to such an address is accepted only with a valid hash and, for SRS0, not older than
// max_age: herald is not an open relay for anyone who can write the format.
#pragma once

#include <chrono>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "util/clock.h"

namespace herald {

// What forward() made of a sender.
struct SrsForward {
  // The return path the forwarded copy takes: the SRS address, or the sender unchanged when
  // `rewritten` is false.
  std::string return_path;
  bool rewritten = false;
  // Why the sender was kept, for the log and the ledger; empty when rewritten or when there was
  // nothing to rewrite (the null reverse-path, an address already in the SRS domain).
  std::string kept_because;
};

// What reverse() found in an address of the SRS domain.
struct SrsReverse {
  enum class Verdict {
    valid,      // `original` is where the bounce goes
    malformed,  // not SRS0/SRS1 in the format above
    bad_hash,   // no secret signed it: forged or mangled
    expired,    // an SRS0 older than max_age (or stamped in the future)
  };
  Verdict verdict = Verdict::malformed;
  std::string original;  // the address the SRS address stands for; set when valid
};

// Immutable after construction: every thread may use one instance without locking.
class SenderRewriting {
 public:
  // `domain`: the SRS domain, lower case. `secret` signs and verifies; `previous_secrets`
  // (secrets rotated out) only verify, so bounces to addresses made before a rotation still
  // come home. `max_age` below one day or from 1024 days on is the caller's error
  // (load_config refuses it).
  SenderRewriting(std::string domain, std::string secret, std::vector<std::string> previous_secrets,
                  std::chrono::seconds max_age);

  const std::string& domain() const { return domain_; }

  // The return path for a copy of mail from `sender` (a reverse-path without brackets; empty
  // for the null one) forwarded at `now`. Never rewritten: the null reverse-path (RFC 5321
  // 4.5.5: a bounce must not get one back), an address already in the SRS domain, and a
  // sender whose SRS local part would pass 64 octets (RFC 5321 4.5.3.1.1) or that is not
  // local@domain.
  SrsForward forward(std::string_view sender, TimePoint now) const;

  // Does `address` claim to be one of ours: the SRS domain (any case) and a local part
  // starting SRS0 or SRS1 and a separator ('=', '+' or '-')? Only then is reverse() asked.
  bool claims(std::string_view address) const;

  // Checks and decodes an address that claims() to be ours, at `now`.
  SrsReverse reverse(std::string_view address, TimePoint now) const;

 private:
  std::string srs_local_part(std::string_view local, const std::string& domain,
                             TimePoint now) const;
  SrsReverse reverse_srs0(std::string_view body, TimePoint now) const;
  SrsReverse reverse_srs1(std::string_view body) const;
  bool hash_matches(std::string_view hash, std::initializer_list<std::string_view> fields) const;

  std::string domain_;
  std::string secret_;
  std::vector<std::string> previous_secrets_;
  int max_age_days_;
};

}  // namespace herald
