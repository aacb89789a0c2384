// Which hosts to try for a domain, in which order (RFC 5321 5.1), from its MX records. Pure:
// the caller resolves the records (dns/) and the hosts' addresses, and owns the attempts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "dns/dns_answer.h"  // MxRecord: an exchange of "." (or "") is the RFC 7505 null MX

namespace herald {

struct MxHost {
  std::string name;
  uint16_t preference = 0;
};

struct MxPlan {
  // The hosts to try, most preferred first. Empty with null_mx, or when every host was
  // dropped as a loop.
  std::vector<MxHost> hosts;
  // RFC 7505 3.2: the domain declared that it accepts no mail; the message fails
  // permanently with `reason`.
  bool null_mx = false;
  // An exchange is one of herald's own names: it and every less preferred host were dropped
  // (RFC 5321 5.1), since sending there would loop back.
  bool points_to_self = false;
  std::string reason;  // for null_mx, and for a loop that left no host: the reply to record
};

// Returns a number in [0, bound) for bound > 0. Tests inject a fixed sequence.
using RandomBelow = std::function<size_t(size_t bound)>;

// RFC 5321 5.1: hosts by ascending preference, those of equal preference in random order so
// that load spreads; no records (NODATA) means the implicit MX, the domain itself with
// preference 0. `local_names` are herald's own names; comparisons ignore case and a final
// dot. An NXDOMAIN is the caller's to treat before calling this. At most `max_hosts` hosts
// are kept, the most preferred ([outbound] max_mx_hosts): a domain that lists hundreds of
// exchanges must not cost hundreds of lookups and connections in one attempt.
MxPlan plan_mx(std::string_view domain, const std::vector<MxRecord>& records,
               const std::vector<std::string>& local_names, const RandomBelow& random_below,
               size_t max_hosts = std::numeric_limits<size_t>::max());

}  // namespace herald
