// Validating the Authenticated Received Chain of a received message (RFC 8617 5.2): the
// structure of its ARC sets, the newest ARC-Message-Signature, and every ARC-Seal.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "auth/arc_set.h"
#include "auth/verify_executor.h"
#include "mime/message_content.h"
#include "util/clock.h"

namespace herald {

class DkimMessage;
class Resolver;

struct ArcVerdict {
  ArcChainResult result = ArcChainResult::none;
  std::string reason;         // why, for humans and the Authentication-Results comment
  int instance = 0;           // highest i= seen (0 when none)
  std::string sealer_domain;  // d= of the newest ARC-Seal, "" when none or unparsable
};

// Not copyable; one verifier serves any number of messages, concurrently if the resolver
// allows it. The resolver, the clock and the executor's pool must outlive every verify() in
// flight.
class ArcVerifier {
 public:
  // `executor` runs the signature checks (verify_executor.h); null runs them in place.
  ArcVerifier(Resolver& resolver, const Clock& clock, VerifyExecutor executor = {});
  ArcVerifier(const ArcVerifier&) = delete;
  ArcVerifier& operator=(const ArcVerifier&) = delete;

  // Validates the chain of `message` (CRLF line ends). `done` is called exactly once: on the
  // executor (on the resolver's thread without one) once the keys are in, or before verify
  // returns when no lookup is needed (no ARC field, or a chain already broken in form).
  //   none: no ARC field at all.
  //   fail: the form is invalid (a field that does not parse, a set missing or doubling a
  //         field, a gap in the instances, more than 50 sets), the newest seal says cv=fail,
  //         a seal's cv= does not fit its place (none for i=1, pass above), the newest AMS
  //         or any seal does not verify, or a key is missing or unusable. RFC 8617 has no
  //         temperror: a key lookup that fails temporarily, or a body piece that cannot be
  //         read (ContentReadError), is a fail whose reason says "temporary".
  //   pass: everything above holds.
  // Only the newest AMS is checked (5.2 step 5); older ones are expected to break when a
  // message is modified on its way. Key lookups: TXT at s._domainkey.d, one per distinct name
  // (at most 51: the sets are capped at 50). The work is linear in the size of the chain: the
  // seals share one running hash of the sets below them.
  //
  // Ownership: `message` is copied (its header section, and a share of its body, whose bytes
  // are not copied): the caller need not keep it alive. Blocking: the body's pieces are read
  // once, for the newest AMS, where the checks run: on the executor, or without one on the
  // thread of the last key answer (MessageBody::piece may read from disk).
  void verify(const MessageContent& message, std::function<void(ArcVerdict)> done);

  // The same on a message already split, whose body hashes are shared with other checks of
  // it (MessageAuthenticator: the DKIM verifier's).
  void verify(std::shared_ptr<const DkimMessage> message, std::function<void(ArcVerdict)> done);

 private:
  Resolver& resolver_;
  const Clock& clock_;
  VerifyExecutor executor_;
};

}  // namespace herald
