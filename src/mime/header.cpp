#include "mime/header.h"

#include <fmt/format.h>

#include <ctime>

namespace herald {
namespace {

constexpr size_t kFoldAt = 78;      // RFC 5322 2.1.1: SHOULD, without the CRLF
constexpr size_t kHardLimit = 998;  // RFC 5322 2.1.1: MUST, without the CRLF
constexpr size_t kHardChunk = 900;  // what an overlong word is cut into, leaving room

// RFC 5322 2.2: a field body is printable characters and WSP; anything else would end the
// field early or smuggle in another one.
std::string without_controls(std::string_view value) {
  std::string out(value);
  for (char& c : out) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && c != '\t') || byte == 0x7F) c = ' ';
  }
  return out;
}

}  // namespace

std::string header_field(std::string_view name, std::string_view value) {
  const std::string clean = without_controls(value);
  std::string out(name);
  out += ':';
  size_t line_length = out.size();
  size_t start = 0;
  while (start <= clean.size()) {
    size_t end = clean.find(' ', start);
    if (end == std::string::npos) end = clean.size();
    std::string_view word(clean.data() + start, end - start);
    // A fold goes before the space, which then starts the continuation line. Never fold
    // before an empty word: a line of nothing but white space is not allowed (RFC 5322 3.2.2).
    if (!word.empty() && line_length > name.size() + 1 && line_length + 1 + word.size() > kFoldAt) {
      out += "\r\n";
      line_length = 0;
    }
    out += ' ';
    ++line_length;
    while (line_length + word.size() > kHardLimit) {
      const size_t take = kHardChunk > line_length ? kHardChunk - line_length : 0;
      out.append(word.substr(0, take));
      out += "\r\n ";
      line_length = 1;
      word.remove_prefix(take);
    }
    out.append(word);
    line_length += word.size();
    start = end + 1;
  }
  out += "\r\n";
  return out;
}

std::string header_date(TimePoint at) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t seconds = std::chrono::system_clock::to_time_t(at);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} +0000", kDays[utc.tm_wday], utc.tm_mday,
                     kMonths[utc.tm_mon], utc.tm_year + 1900, utc.tm_hour, utc.tm_min, utc.tm_sec);
}

}  // namespace herald
