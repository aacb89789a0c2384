// The ARC set parsers (RFC 8617 4.1) and the collection of a message's sets take text
// straight from senders: they must give a value or an error for any bytes, without crashing
// or undefined behaviour, and what they accept must hold together.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "auth/arc_set.h"
#include "auth/dkim_canonical.h"

namespace {

bool instance_in_range(int instance) {
  return instance >= 1 && instance <= herald::kMaxArcInstance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  const auto seal = herald::parse_arc_seal(text);
  if (const auto* parsed = std::get_if<herald::ArcSeal>(&seal)) {
    // RFC 8617 4.1.3: d= and s= are required; rsa-sha1 is refused (RFC 8301 3.1).
    if (!instance_in_range(parsed->instance) || parsed->signature.domain.empty() ||
        parsed->signature.selector.empty() ||
        parsed->signature.algorithm == herald::DkimAlgorithm::rsa_sha1)
      __builtin_trap();
  }
  const auto ams = herald::parse_arc_message_signature(text);
  if (const auto* parsed = std::get_if<herald::ArcMessageSignature>(&ams)) {
    if (!instance_in_range(parsed->instance)) __builtin_trap();
    for (const std::string& name : parsed->signature.signed_headers)
      if (name == "arc-seal") __builtin_trap();  // RFC 8617 4.1.2
  }
  const auto aar = herald::parse_arc_authentication_results(text);
  if (const auto* parsed = std::get_if<herald::ArcAuthenticationResults>(&aar))
    if (!instance_in_range(parsed->instance)) __builtin_trap();

  // The same bytes as a message: a chain whose form holds is sets 1..N, each of its instance.
  const herald::DkimMessageParts parts = herald::split_dkim_message(text);
  const herald::ArcChainFields chain = herald::collect_arc_sets(parts.headers);
  if (chain.error.empty() && chain.any_arc_field) {
    if (chain.sets.size() != static_cast<size_t>(chain.highest_instance)) __builtin_trap();
    std::vector<herald::ArcSetFields> covered;
    for (size_t i = 0; i < chain.sets.size(); ++i) {
      if (chain.sets[i].instance != static_cast<int>(i) + 1) __builtin_trap();
      covered.push_back(chain.sets[i].fields);
    }
    (void)herald::arc_seal_hash_input(covered);
  }
  return 0;
}
