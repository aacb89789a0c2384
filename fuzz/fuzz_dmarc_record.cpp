// libFuzzer target: the DMARC record parser (auth/dmarc_record.h) on arbitrary TXT text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "auth/dmarc_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const herald::DmarcParse parsed = herald::parse_dmarc_record(text);
  // A record, when there is one, always has a policy and a percentage within range.
  if (parsed.record && parsed.record->percent > 100) __builtin_trap();
  return 0;
}
