// Validating the Authenticated Received Chain of a received message (RFC 8617 5.2): the
// structure of its ARC sets, the newest ARC-Message-Signature, and every ARC-Seal.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "auth/arc_set.h"
#include "util/clock.h"

namespace herald {

class Resolver;

struct ArcVerdict {
  ArcChainResult result = ArcChainResult::none;
  std::string reason;         // why, for humans and the Authentication-Results comment
  int instance = 0;           // highest i= seen (0 when none)
  std::string sealer_domain;  // d= of the newest ARC-Seal, "" when none or unparsable
};

// Not copyable; one verifier serves any number of messages, concurrently if the resolver
// allows it. The resolver and clock must outlive every verify() in flight.
class ArcVerifier {
 public:
  ArcVerifier(Resolver& resolver, const Clock& clock);
  ArcVerifier(const ArcVerifier&) = delete;
  ArcVerifier& operator=(const ArcVerifier&) = delete;

  // Validates the chain of `message` (CRLF line ends, header and body). `done` is called
  // exactly once: on the thread of the resolver's last callback, or before verify returns
  // when no lookup is needed (no ARC field, or a chain already broken in form).
  //   none: no ARC field at all.
  //   fail: the form is invalid (a field that does not parse, a set missing or doubling a
  //         field, a gap in the instances, more than 50 sets), the newest seal says cv=fail,
  //         a seal's cv= does not fit its place (none for i=1, pass above), the newest AMS
  //         or any seal does not verify, or a key is missing or unusable. RFC 8617 has no
  //         temperror: a key lookup that fails temporarily is a fail whose reason says so.
  //   pass: everything above holds.
  // Only the newest AMS is checked (5.2 step 5); older ones are expected to break when a
  // message is modified on its way. Key lookups: TXT at s._domainkey.d, one per distinct name.
  void verify(std::string message, std::function<void(ArcVerdict)> done);

 private:
  Resolver& resolver_;
  const Clock& clock_;
};

}  // namespace herald
