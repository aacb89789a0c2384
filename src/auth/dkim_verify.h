// Verifying the DKIM-Signature fields of a received message (RFC 6376 6), with rsa-sha256
// and ed25519-sha256 (RFC 8463) and the algorithm and key-size rules of RFC 8301.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "auth/dkim_signature.h"
#include "util/clock.h"

namespace herald {

class Resolver;

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
};

// Not copyable; one verifier serves any number of messages, concurrently if the resolver
// allows it. The resolver and clock must outlive every verify() in flight.
class DkimVerifier {
 public:
  using Done = std::function<void(std::vector<DkimVerdict>)>;

  DkimVerifier(Resolver& resolver, const Clock& clock, DkimVerifyOptions options = {});
  DkimVerifier(const DkimVerifier&) = delete;
  DkimVerifier& operator=(const DkimVerifier&) = delete;

  // Verifies every DKIM-Signature field of `message` (CRLF line ends, header and body), each
  // on its own. `done` is called exactly once, with one verdict per field in message order,
  // on the thread of the resolver's last callback (or before verify returns when no lookup
  // is needed). Key lookups: TXT at selector._domainkey.domain; SERVFAIL or timeout is
  // temperror, no record permerror (RFC 6376 6.1.2). The signature check itself runs in
  // that callback; it is cheap next to signing (a public-key operation).
  void verify(std::string message, Done done);

 private:
  Resolver& resolver_;
  const Clock& clock_;
  DkimVerifyOptions options_;
};

}  // namespace herald
