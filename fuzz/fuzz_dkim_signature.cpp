// The DKIM tag-list parsers (RFC 6376 3.2) take text straight from senders and from DNS:
// they must give a value or an error for any bytes, without crashing or undefined
// behaviour, and what they accept must hold together.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "auth/dkim_canonical.h"
#include "auth/dkim_signature.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto signature = herald::parse_dkim_signature(text);
  if (const auto* sig = std::get_if<herald::DkimSignature>(&signature)) {
    // RFC 6376 3.5: d=, s= and a signed From are required; i= always has an '@'.
    if (sig->domain.empty() || sig->selector.empty()) __builtin_trap();
    if (std::find(sig->signed_headers.begin(), sig->signed_headers.end(), "from") ==
        sig->signed_headers.end())
      __builtin_trap();
    if (sig->identity.find('@') == std::string::npos) __builtin_trap();
  }
  (void)herald::parse_dkim_key_record(text);
  // The same bytes as a DKIM-Signature field: emptying b= never lengthens it.
  const std::string field = "DKIM-Signature:" + std::string(text);
  if (herald::without_b_value(field).size() > field.size()) __builtin_trap();
  return 0;
}
