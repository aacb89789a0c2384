// Verifying the DKIM-Signature fields of a received message (RFC 6376 6), with rsa-sha256
// and ed25519-sha256 (RFC 8463) and the algorithm and key-size rules of RFC 8301.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/dkim_signature.h"
#include "auth/verify_executor.h"
#include "mime/message_content.h"
#include "util/clock.h"

namespace herald {

class DkimMessage;
class Resolver;

// [policy] max_signatures by default. RFC 6376 6.1 lets a verifier limit the signatures
// it tries, against denial of service. Mail that went through an ESP and a mailing list
// carries two or three (author, ESP, list); five leaves room for that and still bounds what
// a stack of signatures costs: five key lookups and five public-key operations.
inline constexpr size_t kDefaultMaxDkimSignatures = 5;

// RFC 8601 2.7.1 result names for one signature ("none" is a message with no signature:
// an empty list of verdicts). This verifier gives pass; fail (body hash or signature wrong);
// permerror (field or key record unusable, expired, no key); temperror (DNS failed); policy
// (RFC 8301 refusals). neutral is there for callers that map other outcomes to it.
enum class DkimResult { pass, fail, neutral, temperror, permerror, policy };
std::string_view to_string(DkimResult result);

struct DkimVerdict {
  DkimResult result = DkimResult::permerror;
  std::string reason;    // why, for humans and the Authentication-Results comment
  std::string domain;    // d=, empty when the field did not parse
  std::string selector;  // s=
  std::string identity;  // i= (or "@" + d=)
  std::optional<DkimAlgorithm> algorithm;
  bool testing = false;  // the key says t=y; RFC 6376 3.6.1: no different treatment
};

struct DkimVerifyOptions {
  // Accept rsa-sha1 and RSA keys under 1024 bits, which RFC 8301 3.1 and 3.2 forbid. Off in
  // production; on only to check canonicalisation against legacy corpora.
  bool accept_legacy_rsa = false;
  // A t= this far ahead of the clock is still accepted (RFC 6376 3.5 t=: clocks differ).
  Duration allowed_clock_skew = std::chrono::minutes(5);
  // At most this many DKIM-Signature fields are checked (see SignaturePreference for which);
  // the rest are neither looked up nor checked. At least 1.
  size_t max_signatures = kDefaultMaxDkimSignatures;
};

// Which fields are checked when a message has more than max_signatures: first those whose d=
// this says true for (MessageAuthenticator: d= aligned with the From domain, so that a stack
// of other signatures cannot push out the one DMARC needs), then the topmost, which the hops
// nearest to us added. Empty: the topmost only.
using SignaturePreference = std::function<bool(const std::string& domain)>;

// Not copyable; one verifier serves any number of messages, concurrently if the resolver
// allows it. The resolver, the clock and the executor's pool must outlive every verify() in
// flight.
class DkimVerifier {
 public:
  using Done = std::function<void(std::vector<DkimVerdict>)>;

  // `executor` runs the signature checks (verify_executor.h); null runs them in place.
  DkimVerifier(Resolver& resolver, const Clock& clock, DkimVerifyOptions options = {},
               VerifyExecutor executor = {});
  DkimVerifier(const DkimVerifier&) = delete;
  DkimVerifier& operator=(const DkimVerifier&) = delete;

  // Verifies the DKIM-Signature fields of `message` (CRLF line ends), each on its own, up to
  // options.max_signatures of them (the topmost). `done` is called exactly once, with one
  // verdict per field checked in message order, then, when fields were left unchecked, one
  // more for all of them: policy, "too many signatures, N not checked", without a domain
  // (RFC 8601 2.7.1: some aspect of the signatures was not acceptable to this ADMD). It runs
  // on the executor (or on the resolver's thread without one, or before verify returns when no
  // lookup is needed). Key lookups: TXT at selector._domainkey.domain; SERVFAIL or timeout
  // is temperror, no record permerror (RFC 6376 6.1.2). A body piece that cannot be read
  // (ContentReadError) is temperror for the signatures that needed it.
  //
  // Ownership: `message` is copied (its header section, and a share of its body, whose bytes
  // are not copied): the caller need not keep it alive. Blocking: the body's pieces are read,
  // once per body canonicalisation, where the signature checks run: on the executor, or
  // without one on the thread of the key's answer (MessageBody::piece may read from disk).
  void verify(const MessageContent& message, Done done);

  // The same on a message already split, whose body hashes are shared with other checks of
  // it (MessageAuthenticator: the ARC verifier's).
  void verify(std::shared_ptr<const DkimMessage> message, Done done,
              const SignaturePreference& first = {});

 private:
  Resolver& resolver_;
  const Clock& clock_;
  DkimVerifyOptions options_;
  VerifyExecutor executor_;
};

}  // namespace herald
