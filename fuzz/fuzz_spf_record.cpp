// The SPF record parser and macro expander must take any byte string without crashing,
// reading out of bounds or hitting undefined behaviour. What the parser accepts must be
// usable as it promises: prefix lengths in range, and every domain-spec expandable.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "auth/spf_macro.h"
#include "auth/spf_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  herald::SpfMacroValues values;
  values.sender = "user@example.org";
  values.local_part = "user";
  values.sender_domain = "example.org";
  values.domain = "example.org";
  values.ip = "192.0.2.1";

  auto parsed = herald::parse_spf_record(input);
  if (const auto* record = std::get_if<herald::SpfRecord>(&parsed)) {
    for (const herald::SpfMechanism& mechanism : record->mechanisms) {
      if (mechanism.ip4_prefix < 0 || mechanism.ip4_prefix > 32) __builtin_trap();
      if (mechanism.ip6_prefix < 0 || mechanism.ip6_prefix > 128) __builtin_trap();
      if (!mechanism.domain_spec.empty() &&
          !herald::expand_spf_macros(mechanism.domain_spec, values, false))
        __builtin_trap();
    }
    for (const auto* spec : {&record->redirect, &record->explanation}) {
      if (*spec && !herald::expand_spf_macros(**spec, values, false)) __builtin_trap();
    }
  }
  // As explanation text (RFC 7208 6.2): valid exactly when it expands.
  const bool valid = herald::is_valid_macro_string(input, true);
  if (valid != herald::expand_spf_macros(input, values, true).has_value()) __builtin_trap();
  return 0;
}
