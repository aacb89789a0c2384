// ReplyParser must take any byte string, in any split, without crashing, reading out of
// bounds or hitting undefined behaviour; the replies it gives must respect its own bounds.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "smtp/reply_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // The first byte chooses where the input is split and whether enhanced codes are on.
  const size_t split = size == 0 ? 0 : data[0] % size;
  herald::ReplyParser parser;
  parser.set_enhanced_status_codes(size > 0 && (data[0] & 1) != 0);
  parser.feed(input.substr(0, split));
  parser.feed(input.substr(split));
  while (std::optional<herald::Reply> reply = parser.next()) {
    if (reply->code < 200 || reply->code > 599) __builtin_trap();
    if (reply->lines.empty() || reply->lines.size() > herald::ReplyParser::kMaxLines)
      __builtin_trap();
    for (const std::string& line : reply->lines) {
      if (line.size() >= herald::ReplyParser::kMaxLine) __builtin_trap();
      if (line.find_first_of("\r\n") != std::string::npos) __builtin_trap();
    }
    if (!reply->enhanced.empty() && reply->enhanced[0] != '0' + reply->code / 100) __builtin_trap();
  }
  return 0;
}
