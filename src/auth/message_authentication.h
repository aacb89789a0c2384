// The identity checks of one received message put together (DESIGN.md promise 4): DKIM and
// ARC on its content, then DMARC on its From domain with the SPF result the SMTP
// transaction already has; and what the results mean for Authentication-Results, the
// ledger and DSNs.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "auth/arc_verify.h"
#include "auth/authentication_results.h"
#include "auth/dkim_verify.h"
#include "auth/dmarc.h"
#include "auth/spf.h"
#include "dns/resolver.h"
#include "mime/message_content.h"
#include "util/clock.h"

namespace herald {

// The SPF check made for the transaction (at MAIL FROM): what was asked and the answer.
struct SpfCheck {
  SpfRequest request;
  SpfOutcome outcome;
};

// RFC 7489 11.2 result names.
enum class DmarcResult { none, pass, fail, temperror, permerror };
std::string_view to_string(DmarcResult result);

struct MessageAuthentication {
  SpfCheck spf;
  // One per DKIM-Signature field checked, in message order, and one policy verdict for those
  // past the cap (DkimVerifier::verify).
  std::vector<DkimVerdict> dkim;
  ArcVerdict arc;            // the chain as it arrived
  std::string from_domain;   // the RFC5322.From domain DMARC judges; "" when unusable
  std::string from_problem;  // why from_domain is empty (mime/from_domain.h)
  DmarcResult dmarc_result = DmarcResult::none;
  std::string dmarc_reason;                 // for none, temperror and permerror
  std::optional<DmarcRecord> dmarc_record;  // the policy found, when one was
  DmarcVerdict dmarc;                       // meaningful for pass and fail
};

struct MessageAuthenticatorOptions {
  size_t max_dkim_signatures = kDefaultMaxDkimSignatures;  // [policy] max_signatures
  // Runs the body hashes and public-key operations (verify_executor.h); null: in place.
  VerifyExecutor executor;
};

// Not copyable. Resolver, clock and the executor's pool must outlive every authenticate() in
// flight; one authenticator serves any number of messages at once when the resolver allows it.
class MessageAuthenticator {
 public:
  using Done = std::function<void(MessageAuthentication)>;

  MessageAuthenticator(Resolver& resolver, const Clock& clock,
                       MessageAuthenticatorOptions options = {});
  MessageAuthenticator(const MessageAuthenticator&) = delete;
  MessageAuthenticator& operator=(const MessageAuthenticator&) = delete;

  // Verifies the DKIM signatures (up to max_dkim_signatures, those aligned with the From
  // domain first: SignaturePreference) and the ARC chain of `message` (CRLF line ends), side
  // by side over one split of its header and one body hash per distinct (c=, hash, l=), then
  // looks up and applies the DMARC policy of its From domain (read from the header section),
  // with `spf`. With an executor the body is hashed there while the key lookups are out.
  // `done` runs exactly once, on the thread of the resolver's last answer or on the executor
  // (or before the call returns when no lookup is needed), and must not block. Every lookup is
  // bounded by the resolver's timeout; DNS failures and unreadable body pieces are results
  // (temperror, or an ARC fail marked temporary), never exceptions.
  //
  // Ownership: `message` is copied (its header section, and a share of its body, whose bytes
  // are not copied): the caller need not keep it alive. Blocking: the body's pieces are read
  // on the executor, or without one where the checks run (the thread of a key's answer); never
  // call this without an executor from an io thread when the body is on disk.
  void authenticate(const MessageContent& message, SpfCheck spf, Done done);

 private:
  struct Pending;
  void finish(const std::shared_ptr<Pending>& pending);

  Resolver& resolver_;
  VerifyExecutor executor_;
  DkimVerifier dkim_;
  ArcVerifier arc_;
};

// The results as RFC 8601 wants them in the Authentication-Results field: spf (with
// smtp.mailfrom or smtp.helo), one dkim per signature checked (header.d, header.s, header.a)
// and one dkim=policy for those past the cap, arc
// (RFC 8617 10.2; the newest sealer in the comment), dmarc (header.from).
std::vector<AuthResult> authentication_results(const MessageAuthentication& auth);

// The ledger's `auth` event, as key=value details.
std::vector<std::pair<std::string, std::string>> auth_event_fields(
    const MessageAuthentication& auth);

// Whether the envelope sender's domain vouched for this message: SPF passed for MAIL FROM,
// or a DKIM signature passed whose d= is aligned (RFC 7489 3.1.1, relaxed) with the MAIL
// FROM domain. Such a sender may get DSNs without that being backscatter (DESIGN.md
// promise 3). Always false for the null reverse-path.
bool verifies_envelope_sender(const MessageAuthentication& auth);

}  // namespace herald
