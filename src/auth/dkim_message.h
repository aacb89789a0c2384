// A received message as all of its DKIM checks read it (RFC 6376 6.1.3, and the
// ARC-Message-Signature, checked the same way, RFC 8617 5.2): its header split into fields
// once, and each body hash computed once per distinct (body canonicalisation, hash, l=) for
// every signature that needs it, by one pass over the body's pieces per canonicalisation. A
// hostile message can carry many signatures over a large body; the body is then still read
// at most once per body canonicalisation, a piece at a time, and never held or copied whole.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "auth/dkim_body_hash.h"
#include "auth/dkim_canonical.h"
#include "mime/message_content.h"

namespace herald {

// Threading: headers() is immutable; declare() and body_hash() may be called from any number
// of threads at once. A body hash being computed holds a lock, so a second caller waits for it
// rather than doing the work again.
// Lifetime: holds its own copy of the content (the header section, and a share of the body,
// whose bytes are not copied), so the caller's MessageContent need not outlive it.
class DkimMessage {
 public:
  explicit DkimMessage(const MessageContent& content);
  DkimMessage(const DkimMessage&) = delete;
  DkimMessage& operator=(const DkimMessage&) = delete;

  // The header fields, top to bottom, pointing into this object's copy of the header.
  const std::vector<DkimHeaderField>& headers() const { return headers_; }

  // Says that a check will ask for `key`. The first body_hash() of a canonicalisation then
  // computes every key declared for it in the same pass over the body. Cheap: no hashing.
  void declare(const DkimBodyHashKey& key) const;

  // RFC 6376 3.7 steps 1-2: the hash of the canonical body, cut to l= when there is one.
  // nullopt: l= is longer than the canonical body (RFC 6376 3.5 l=: nothing that was signed
  // can be checked). Computed on the first call for its key (with the other keys declared for
  // its canonicalisation), then kept. Blocking: the first call of a canonicalisation reads the
  // body's pieces on the calling thread (MessageBody::piece); throws ContentReadError, and
  // then a later call tries the body again.
  std::optional<std::string> body_hash(const DkimBodyHashKey& key) const;

  // Computes every declared hash not yet computed: lets a caller do the body's work ahead,
  // for instance while the key lookups are out. Blocking and throwing as body_hash().
  void compute_declared() const;

 private:
  // Requires mutex_. One pass over the body in `canonicalization`, for every key declared
  // for it and not yet computed.
  void compute(DkimCanonicalization canonicalization) const;

  const MessageContent content_;
  const std::vector<DkimHeaderField> headers_;  // views of content_.header
  mutable std::mutex mutex_;
  mutable std::set<DkimBodyHashKey> declared_;
  mutable std::map<DkimBodyHashKey, std::optional<std::string>> hashes_;
};

}  // namespace herald
