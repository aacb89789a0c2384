#include "smtp/identity_policy.h"

#include <fmt/format.h>

namespace herald {
namespace {

// The explanation comes from the sender's DNS: only printable ASCII, and not too much of it,
// goes into the reply.
std::string printable(std::string_view text, size_t limit) {
  std::string out;
  for (const char c : text.substr(0, limit)) out += (c >= 0x20 && c < 0x7f) ? c : ' ';
  return out;
}

}  // namespace

std::optional<Reply> spf_refusal(const SpfOutcome& spf, const PolicyConfig& policy) {
  if (spf.result != SpfResult::fail || policy.spf_fail != SpfFailAction::reject) {
    return std::nullopt;
  }
  return make_reply(
      550, "5.7.23",
      fmt::format("SPF check failed for {}: {}", spf.domain, printable(spf.explanation, 200)));
}

IdentityDecision decide_identity(const MessageAuthentication& auth, const PolicyConfig& policy) {
  if (auth.dmarc_result != DmarcResult::fail) return {};
  const std::string why =
      fmt::format("DMARC policy of {} (p={}): neither SPF nor DKIM is aligned with the From domain",
                  auth.from_domain, to_string(auth.dmarc.policy));
  switch (auth.dmarc.disposition) {
    case DmarcPolicy::none:
      return {};
    case DmarcPolicy::quarantine:
      return {IdentityDecision::Action::quarantine, why};
    case DmarcPolicy::reject:
      if (policy.dmarc_reject == DmarcRejectAction::quarantine) {
        return {IdentityDecision::Action::quarantine, why};
      }
      return {IdentityDecision::Action::reject, why};
  }
  return {};
}

Reply identity_refusal(const IdentityDecision& decision) {
  return make_reply(550, "5.7.1", "Message refused: " + decision.reason);
}

}  // namespace herald
