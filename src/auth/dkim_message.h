// A received message as all of its DKIM checks read it (RFC 6376 6.1.3, and the
// ARC-Message-Signature, checked the same way, RFC 8617 5.2): split into header fields and
// body once, and each body hash computed once per distinct (body canonicalisation, hash, l=)
// for every signature that needs it, straight from the received bytes. A hostile message can
// carry many signatures over a large body; the body is then still read at most once per body
// canonicalisation and never copied.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "auth/dkim_canonical.h"
#include "auth/dkim_signature.h"

namespace herald {

// The hash half of a=: rsa-sha256 and ed25519-sha256 share SHA-256, so their body hashes too.
enum class DkimBodyDigest { sha1, sha256 };

// What one body hash is computed over: the body canonicalisation (the second half of c=),
// the hash, and l= (nullopt: the whole body).
struct DkimBodyHashKey {
  DkimCanonicalization canonicalization = DkimCanonicalization::simple;
  DkimBodyDigest digest = DkimBodyDigest::sha256;
  std::optional<uint64_t> length;

  static DkimBodyHashKey of(const DkimSignature& signature);
  friend auto operator<=>(const DkimBodyHashKey&, const DkimBodyHashKey&) = default;
};

// The same hash for a body on its own, in one streaming pass with no canonical copy: what
// the signers (DkimSigner, ArcSealer) put in bh=. nullopt as for DkimMessage::body_hash.
std::optional<std::string> dkim_body_hash(std::string_view body, const DkimBodyHashKey& key);

// Threading: parts() is immutable; declare() and body_hash() may be called from any number of
// threads at once. A body hash being computed holds a lock, so a second caller waits for it
// rather than doing the work again.
// Lifetime: `text` is not copied; it must stay valid and unchanged while this object lives.
class DkimMessage {
 public:
  explicit DkimMessage(std::string_view text);
  DkimMessage(const DkimMessage&) = delete;
  DkimMessage& operator=(const DkimMessage&) = delete;

  const DkimMessageParts& parts() const { return parts_; }

  // Says that a check will ask for `key`. The first body_hash() of a canonicalisation then
  // computes every key declared for it in the same pass over the body. Cheap: no hashing.
  void declare(const DkimBodyHashKey& key) const;

  // RFC 6376 3.7 steps 1-2: the hash of the canonical body, cut to l= when there is one.
  // nullopt: l= is longer than the canonical body (RFC 6376 3.5 l=: nothing that was signed
  // can be checked). Computed on the first call for its key (with the other keys declared for
  // its canonicalisation), then kept.
  std::optional<std::string> body_hash(const DkimBodyHashKey& key) const;

  // Computes every declared hash not yet computed: lets a caller do the body's work ahead,
  // for instance while the key lookups are out.
  void compute_declared() const;

 private:
  // Requires mutex_. One pass over the body in `canonicalization`, for every key declared
  // for it and not yet computed.
  void compute(DkimCanonicalization canonicalization) const;

  DkimMessageParts parts_;
  mutable std::mutex mutex_;
  mutable std::set<DkimBodyHashKey> declared_;
  mutable std::map<DkimBodyHashKey, std::optional<std::string>> hashes_;
};

}  // namespace herald
