#include "smtp/received_header.h"

#include <vector>

#include "mime/header.h"

namespace herald {
namespace {

constexpr size_t kMaxLineLength = 78;  // RFC 5322 2.1.1: SHOULD, without the CRLF

// A part of the header that is never broken; `own_line` parts start a continuation line.
struct Part {
  std::string text;
  bool own_line = false;
};

// Packs parts into lines, starting a new (tab-indented) line before an `own_line` part or
// when the next part would make the current line too long.
std::string fold(const std::vector<Part>& parts) {
  std::string out;
  size_t line_length = 0;
  for (const Part& part : parts) {
    const bool fits = line_length + 1 + part.text.size() <= kMaxLineLength;
    if (!out.empty() && (part.own_line || !fits)) {
      out += "\r\n\t";
      line_length = 1;
    } else if (!out.empty()) {
      out += ' ';
      ++line_length;
    }
    out += part.text;
    line_length += part.text.size();
  }
  out += "\r\n";
  return out;
}

// RFC 5321 4.1.3: an IPv6 address literal carries the "IPv6:" tag.
std::string address_literal(const std::string& ip) {
  return ip.find(':') == std::string::npos ? "[" + ip + "]" : "[IPv6:" + ip + "]";
}

}  // namespace

std::string received_header(const ReceivedFields& f) {
  std::vector<Part> parts = {
      {"Received: from " + f.helo}, {"(" + address_literal(f.peer_ip) + ")"},
      {"by " + f.hostname, true},   {"(herald)"},
      {"with " + f.protocol},       {"id " + f.id},
  };
  if (!f.tls_version.empty()) {
    parts.push_back({"(using " + f.tls_version + " with cipher " + f.tls_cipher + ")", true});
  }
  if (!f.single_recipient.empty()) {
    // RFC 5321 4.4 / 7.2: naming the recipient when there are several would tell each of
    // them who else got the message.
    parts.push_back({"for <" + f.single_recipient + ">", true});
  }
  parts.back().text += ';';
  parts.push_back({header_date(f.at)});
  return fold(parts);
}

}  // namespace herald
