#include "auth/dkim_signing_table.h"

#include "auth/organizational_domain.h"
#include "util/ascii.h"

namespace herald {

DkimSigningTable::DkimSigningTable(const std::vector<DkimConfig>& entries) {
  for (const DkimConfig& entry : entries) {
    auto loaded = DkimSigner::from_pem_file(entry.key, entry.domain, entry.selector);
    if (const auto* error = std::get_if<DkimSignError>(&loaded)) {
      throw ConfigError("[[dkim]] domain=" + entry.domain + " selector=" + entry.selector +
                        ": cannot use the signing key: " + error->reason);
    }
    by_domain_[ascii_lower(entry.domain)].push_back(std::get<DkimSigner>(std::move(loaded)));
  }
}

std::span<const DkimSigner> DkimSigningTable::signers_for(std::string_view from_domain) const {
  std::string domain = ascii_lower(from_domain);
  if (domain.ends_with('.')) domain.pop_back();
  // A public suffix has no organizational domain of its own: only an exact entry serves it.
  const std::string organizational = registrable_domain(domain).value_or(domain);
  while (true) {
    if (auto found = by_domain_.find(domain); found != by_domain_.end()) return found->second;
    if (domain.size() <= organizational.size()) return {};
    domain.erase(0, domain.find('.') + 1);
  }
}

}  // namespace herald
