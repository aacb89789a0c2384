// Checking one signature field once its key record is in hand: from the answer to the key
// lookup to a usable public key (RFC 6376 6.1.2 and 3.6.1, the refusals of RFC 8301), then
// the body hash and the signature (6.1.3). Shared by the DKIM verifier and the ARC verifier,
// whose ARC-Message-Signature is checked exactly like a DKIM-Signature (RFC 8617 5.2).
#pragma once

#include <string>
#include <variant>

#include "auth/dkim_canonical.h"
#include "auth/dkim_crypto.h"
#include "auth/dkim_message.h"
#include "auth/dkim_signature.h"
#include "auth/dkim_verify.h"
#include "dns/dns_answer.h"

namespace herald {

// The outcome of one step: a result, why, and the key's t=y when its record parsed.
struct DkimCheck {
  DkimResult result = DkimResult::permerror;
  std::string reason;
  bool testing = false;
};

struct DkimVerificationKey {
  DkimPublicKey key;
  bool testing = false;  // t=y
};

// The key for `signature` from the answer to TXT selector._domainkey.domain. Failures:
// temperror (lookup failed), permerror (no record, record unusable or revoked, key type or
// hash not allowing `signature`'s a=, a t=s key while the i= domain is below d=), policy
// (RFC 8301: rsa-sha1 or RSA under 1024 bits, unless `accept_legacy_rsa`). ARC fields have
// no identity (their i= is an instance): `check_identity` false skips the t=s rule for them.
std::variant<DkimVerificationKey, DkimCheck> dkim_key_from_answer(
    const DnsAnswer<TxtRecord>& answer, const DkimSignature& signature, bool check_identity,
    bool accept_legacy_rsa);

// RFC 6376 6.1.3: the body hash (with l=), then the signature over the header data, of
// `field` in `message`. pass, fail, permerror (l= beyond the body), or temperror (a body
// piece could not be read, ContentReadError). The body hash is the one `message` shares among
// all signatures with the same c=, hash and l=. CPU work and blocking reads (the body's pieces
// the first time, a public-key operation): run it on the verification pool.
DkimCheck check_dkim_signature(const DkimSignature& signature, const DkimHeaderField& field,
                               const DkimMessage& message, const DkimPublicKey& key);

}  // namespace herald
