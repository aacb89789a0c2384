#include "smtp/mx_selection.h"

#include <algorithm>
#include <cctype>
#include <utility>

namespace herald {
namespace {

std::string canonical_name(std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  std::string result(name);
  for (char& c : result) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return result;
}

bool is_null_exchange(const MxRecord& record) {
  return canonical_name(record.exchange).empty();
}

// Fisher-Yates on [first, last).
void shuffle(std::vector<MxHost>& hosts, size_t first, size_t last,
             const RandomBelow& random_below) {
  for (size_t i = last - first; i > 1; --i) {
    std::swap(hosts[first + i - 1], hosts[first + random_below(i)]);
  }
}

}  // namespace

MxPlan plan_mx(std::string_view domain, const std::vector<MxRecord>& records,
               const std::vector<std::string>& local_names, const RandomBelow& random_below,
               size_t max_hosts) {
  MxPlan plan;
  // RFC 7505 3: a domain that accepts no mail publishes a single MX "." of preference 0.
  if (records.size() == 1 && is_null_exchange(records[0]) && records[0].preference == 0) {
    plan.null_mx = true;
    plan.reason = "556 5.1.10 " + std::string(domain) + " does not accept mail (null MX, RFC 7505)";
    return plan;
  }
  if (records.empty()) {
    plan.hosts.push_back({canonical_name(domain), 0});  // RFC 5321 5.1: the implicit MX
  }
  for (const MxRecord& record : records) {
    // A "." among other records is no host (RFC 7505 3 forbids mixing them).
    if (!is_null_exchange(record))
      plan.hosts.push_back({canonical_name(record.exchange), record.preference});
  }
  std::sort(plan.hosts.begin(), plan.hosts.end(),
            [](const MxHost& a, const MxHost& b) { return a.preference < b.preference; });
  for (size_t first = 0; first < plan.hosts.size();) {
    size_t last = first;
    while (last < plan.hosts.size() &&
           plan.hosts[last].preference == plan.hosts[first].preference) {
      ++last;
    }
    shuffle(plan.hosts, first, last, random_below);
    first = last;
  }
  // RFC 5321 5.1: when herald is itself one of the exchanges, only the hosts more preferred
  // than it may be tried; the rest would hand the message back to herald.
  const auto is_self = [&local_names](const MxHost& host) {
    return std::any_of(local_names.begin(), local_names.end(), [&host](const std::string& local) {
      return canonical_name(local) == host.name;
    });
  };
  const auto self = std::find_if(plan.hosts.begin(), plan.hosts.end(), is_self);
  if (self != plan.hosts.end()) {
    plan.points_to_self = true;
    const uint16_t own_preference = self->preference;
    std::erase_if(plan.hosts, [own_preference](const MxHost& host) {
      return host.preference >= own_preference;
    });
    if (plan.hosts.empty()) {
      plan.reason =
          "554 5.4.6 MX for " + std::string(domain) + " points back to this host (mail loop)";
    }
  }
  // After the shuffle, so that a cut through hosts of equal preference spreads the load.
  if (plan.hosts.size() > max_hosts) plan.hosts.resize(max_hosts);
  return plan;
}

}  // namespace herald
