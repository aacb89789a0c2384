// The DKIM body hash (RFC 6376 3.7 steps 1-2) of a body read a piece at a time: the body is
// canonicalised (3.4.3 simple, 3.4.4 relaxed) as its pieces come and the canonical bytes go
// straight into the digests, so neither the body nor its canonical form is ever held whole.
// The result is byte for byte what canonicalize_body (dkim_canonical.h, the reference form)
// gives for the pieces joined, wherever the pieces are cut.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/dkim_crypto.h"
#include "auth/dkim_signature.h"
#include "mime/message_content.h"

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

// One pass over one body in one canonicalisation, for any number of keys of it. Fed pieces of
// any size, cut anywhere: inside a CRLF, a run of WSP or the empty lines that end the body.
// What cannot be decided at a cut (a CR that may start a CRLF, WSP that may end a line,
// CRLFs that may be the body's last) is carried as a little state, never as buffered text.
// One thread at a time.
class DkimBodyHasher {
 public:
  explicit DkimBodyHasher(DkimCanonicalization canonicalization);
  DkimBodyHasher(const DkimBodyHasher&) = delete;
  DkimBodyHasher& operator=(const DkimBodyHasher&) = delete;

  // A key to compute in this pass; its canonicalisation must be the hasher's. Before the
  // first update().
  void add(const DkimBodyHashKey& key);

  // The next piece of the body (may be empty).
  void update(std::string_view piece);

  // After the last piece, once: the hash for each key added, nullopt for an l= longer than
  // the canonical body (RFC 6376 3.5 l=).
  std::map<DkimBodyHashKey, std::optional<std::string>> finish();

 private:
  struct Target {
    DkimBodyHashKey key;
    DkimDigestStream stream;
    std::optional<uint64_t> remaining;  // canonical octets still covered by l=
  };

  void update_simple(std::string_view piece);
  void update_relaxed(std::string_view piece);
  void relaxed_content(std::string_view text);
  void end_relaxed_line();
  void release_held_lines();

  // The canonical bytes, gathered in a buffer: relaxed canonicalisation produces them in
  // short runs, and an EVP_DigestUpdate per run and digest would cost more than the hashing.
  void emit(std::string_view data);
  void flush();
  void feed(std::string_view data);

  DkimCanonicalization canonicalization_;
  std::vector<Target> targets_;
  std::string buffer_;
  uint64_t size_ = 0;  // canonical octets so far
  // Simple: CRLFs just seen; relaxed: lines just ended that were empty after canonicalisation.
  // Written out only when something follows them: if nothing does, they end the body and
  // RFC 6376 3.4.3 / 3.4.4 drop them.
  uint64_t held_lines_ = 0;
  bool pending_cr_ = false;  // the last octet seen is a CR, not yet known to start a CRLF
  // Relaxed, within the current line: a non-WSP octet seen, and WSP seen since the last one.
  bool line_has_content_ = false;
  bool pending_space_ = false;
};

// The hash for `key` of a body on its own: what the signers (DkimSigner, ArcSealer) put in
// bh=. nullopt as DkimBodyHasher::finish. Reads the pieces in order, on the calling thread:
// blocking as MessageBody::piece, and throws ContentReadError.
std::optional<std::string> dkim_body_hash(const MessageBody& body, const DkimBodyHashKey& key);

}  // namespace herald
