// parse_command must give a Command for any byte string, without crashing, reading out of
// bounds or hitting undefined behaviour; what it accepts must also hold together.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "smtp/command.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const herald::Command command = herald::parse_command(line);
  if (command.error == herald::CommandError::none &&
      (command.verb == herald::Verb::mail || command.verb == herald::Verb::rcpt)) {
    // An accepted path is never longer than the line it came from (RFC 5321 4.5.3.1.3
    // bounds it further), and a mailbox with a domain has an '@' between them.
    const std::string address = command.path.address();
    if (address.size() > line.size()) __builtin_trap();
    if (!command.path.domain.empty() && address.find('@') == std::string::npos) __builtin_trap();
  }
  return 0;
}
