// DMARC (RFC 7489): finding the policy that covers the RFC5322.From domain (6.6.3) and
// deciding, from the SPF and DKIM results that passed, whether the message is aligned with
// it (3.1, 6.6.2) and what the policy asks of a failure (6.6.4, 6.7).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "auth/dmarc_record.h"
#include "dns/resolver.h"

namespace herald {

// What policy discovery found (RFC 7489 6.6.3).
struct DmarcDiscovery {
  enum class Status {
    found,      // `record`, published at `record_domain`
    none,       // no DMARC record for the domain nor its organizational domain
    temperror,  // DNS failed; the caller may defer (RFC 7489 6.6.3: "temporary error")
  };
  Status status = Status::none;
  std::optional<DmarcRecord> record;
  std::string record_domain;  // the domain whose _dmarc record it is
  std::string reason;         // for none and temperror, and ignored tags
};

// Looks up _dmarc.<from_domain>, and when that has no DMARC record, _dmarc.<organizational
// domain> (RFC 7489 6.6.3 steps 1-4). Several DMARC records at one name, or one that does
// not parse, count as none there (step 5). `done` runs once, on whatever thread the
// resolver answers on; `resolver` must outlive the lookup.
void discover_dmarc_policy(Resolver& resolver, const std::string& from_domain,
                           std::function<void(DmarcDiscovery)> done);

// The identifiers that authenticated: the MAIL FROM (or HELO) domain when SPF passed, and
// the d= of each DKIM signature that verified.
struct DmarcInputs {
  std::string from_domain;                // RFC5322.From domain
  std::optional<std::string> spf_domain;  // set only when SPF passed
  std::vector<std::string> dkim_domains;  // d= of passing signatures
};

struct DmarcVerdict {
  bool pass = false;  // an aligned SPF or DKIM pass (RFC 7489 4.2)
  bool spf_aligned = false;
  bool dkim_aligned = false;
  DmarcPolicy policy = DmarcPolicy::none;  // the policy that applies: p=, or sp= for a subdomain
  // What to do with a failing message: `policy`, or none when pct= sampled it out (6.6.4:
  // then quarantine becomes none and reject becomes quarantine). none when it passed.
  DmarcPolicy disposition = DmarcPolicy::none;
};

// `sample` in [0, 100): the caller's draw for pct= (a message is subject to the policy when
// sample < pct). Pure.
DmarcVerdict evaluate_dmarc(const DmarcInputs& inputs, const DmarcDiscovery& discovery,
                            unsigned sample);

// RFC 7489 3.1: strict alignment wants the same name; relaxed, the same organizational
// domain. Names compare in any case.
bool aligned(const std::string& a, const std::string& b, DmarcAlignment mode);

}  // namespace herald
