#include "auth/dmarc.h"

#include <algorithm>
#include <memory>

#include "auth/organizational_domain.h"
#include "util/ascii.h"

namespace herald {
namespace {

std::string joined(const TxtRecord& txt) {
  std::string text;
  for (const std::string& piece : txt.strings) text += piece;
  return text;
}

// One name's answer: the DMARC record there, none, or a DNS failure.
DmarcDiscovery read_answer(const DnsAnswer<TxtRecord>& answer, const std::string& domain) {
  DmarcDiscovery result;
  result.record_domain = domain;
  if (is_temporary(answer.status)) {
    result.status = DmarcDiscovery::Status::temperror;
    result.reason = "DNS lookup of _dmarc." + domain + " failed (" +
                    std::string(to_string(answer.status)) + ")";
    return result;
  }
  std::vector<std::string> records;
  for (const TxtRecord& txt : answer.records) {
    // RFC 7489 6.6.3 step 3: records that do not start with v=DMARC1 are discarded.
    if (std::string text = joined(txt); is_dmarc_record(text)) records.push_back(text);
  }
  if (records.size() != 1) {
    result.reason = records.empty() ? "no DMARC record at _dmarc." + domain
                                    : "several DMARC records at _dmarc." + domain;
    return result;
  }
  DmarcParse parsed = parse_dmarc_record(records.front());
  if (!parsed.record) {
    result.reason = "the DMARC record at _dmarc." + domain + " is unusable: " + parsed.error;
    return result;
  }
  result.status = DmarcDiscovery::Status::found;
  result.record = std::move(parsed.record);
  return result;
}

}  // namespace

void discover_dmarc_policy(Resolver& resolver, const std::string& from_domain,
                           std::function<void(DmarcDiscovery)> done) {
  const std::string domain = ascii_lower(from_domain);
  const std::string organizational = organizational_domain(domain);
  auto finish = std::make_shared<std::function<void(DmarcDiscovery)>>(std::move(done));
  resolver.lookup_txt(
      "_dmarc." + domain, [&resolver, domain, organizational, finish](DnsAnswer<TxtRecord> answer) {
        DmarcDiscovery first = read_answer(answer, domain);
        // RFC 7489 6.6.3 step 4: only when the From domain has no record does the
        // organizational domain's apply; a DNS failure is not "no record".
        if (first.status != DmarcDiscovery::Status::none || organizational == domain) {
          (*finish)(std::move(first));
          return;
        }
        resolver.lookup_txt("_dmarc." + organizational,
                            [organizational, finish](DnsAnswer<TxtRecord> second) {
                              (*finish)(read_answer(second, organizational));
                            });
      });
}

bool aligned(const std::string& a, const std::string& b, DmarcAlignment mode) {
  const std::string x = ascii_lower(a), y = ascii_lower(b);
  if (mode == DmarcAlignment::strict) return x == y;
  return organizational_domain(x) == organizational_domain(y);
}

DmarcVerdict evaluate_dmarc(const DmarcInputs& inputs, const DmarcDiscovery& discovery,
                            unsigned sample) {
  DmarcVerdict verdict;
  if (discovery.status != DmarcDiscovery::Status::found || !discovery.record) return verdict;
  const DmarcRecord& record = *discovery.record;
  verdict.spf_aligned =
      inputs.spf_domain && aligned(*inputs.spf_domain, inputs.from_domain, record.spf_alignment);
  verdict.dkim_aligned = std::any_of(
      inputs.dkim_domains.begin(), inputs.dkim_domains.end(),
      [&](const auto& d) { return aligned(d, inputs.from_domain, record.dkim_alignment); });
  verdict.pass = verdict.spf_aligned || verdict.dkim_aligned;
  // RFC 7489 6.3 sp=: the policy for subdomains of the domain that published the record.
  const bool subdomain = ascii_lower(inputs.from_domain) != ascii_lower(discovery.record_domain);
  verdict.policy = subdomain && record.subdomain_policy ? *record.subdomain_policy : record.policy;
  if (verdict.pass) return verdict;
  verdict.disposition = verdict.policy;
  // RFC 7489 6.6.4: a message outside the pct= sample gets the next weaker policy.
  if (sample >= record.percent) {
    verdict.disposition =
        verdict.policy == DmarcPolicy::reject ? DmarcPolicy::quarantine : DmarcPolicy::none;
  }
  return verdict;
}

}  // namespace herald
