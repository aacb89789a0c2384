#include "smtp/reply.h"

#include <utility>

namespace herald {

std::string Reply::wire() const {
  const std::string code_text = std::to_string(code);
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    out += code_text;
    // RFC 5321 4.2.1: a hyphen marks every line but the last of a multi-line reply.
    out += i + 1 < lines.size() ? '-' : ' ';
    if (!enhanced.empty()) {
      out += enhanced;
      out += ' ';
    }
    out += lines[i];
    out += "\r\n";
  }
  return out;
}

Reply make_reply(int code, std::string_view enhanced, std::string text) {
  Reply reply;
  reply.code = code;
  reply.enhanced = std::string(enhanced);
  reply.lines.push_back(std::move(text));
  return reply;
}

}  // namespace herald
