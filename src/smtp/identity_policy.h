// What herald does with mail from the internet given what it verified about the sender
// ([policy], DESIGN.md promise 3: refuse during the transaction, never accept and drop).
// Pure: the session asks, the answer is a reply or a disposition.
#pragma once

#include <optional>
#include <string>

#include "auth/message_authentication.h"
#include "config/config.h"
#include "smtp/reply.h"

namespace herald {

// The answer to MAIL FROM when SPF says the client may not send the domain's mail and the
// postmaster chose to refuse that (spf_fail = "reject"): 550 5.7.23 (RFC 7372 3.2) with the
// domain's explanation. nullopt: go on (softfail, temperror and the rest never refuse).
std::optional<Reply> spf_refusal(const SpfOutcome& spf, const PolicyConfig& policy);

struct IdentityDecision {
  enum class Action { accept, quarantine, reject };
  Action action = Action::accept;
  std::string reason;  // for quarantine and reject: in words, for the reply, header, ledger
};

// After the content: DMARC's disposition (RFC 7489 6.6.4, pct= applied) as the policy
// wants it done. reject → reject or quarantine (dmarc_reject); quarantine → quarantine.
IdentityDecision decide_identity(const MessageAuthentication& auth, const PolicyConfig& policy);

// 550 5.7.1 (RFC 7372 has no DMARC code; 5.7.1 is "delivery not authorized, message
// refused") for a rejected message.
Reply identity_refusal(const IdentityDecision& decision);

}  // namespace herald
