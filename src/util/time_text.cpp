#include "util/time_text.h"

#include <time.h>

#include <cstdio>

namespace herald {

std::string format_utc(TimePoint t) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const auto seconds = std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
  const time_t whole = static_cast<time_t>(seconds);
  struct tm utc;
  gmtime_r(&whole, &utc);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(ms - seconds * 1000));
  return text;
}

std::optional<TimePoint> parse_utc(std::string_view text) {
  if (text.size() != 24) return std::nullopt;  // 2023-11-14T22:13:20.123Z
  const std::string copy(text);                // sscanf wants the terminating NUL
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, millisecond = 0;
  char zone = 0;
  if (std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &year, &month, &day, &hour,
                  &minute, &second, &millisecond, &zone) != 8 ||
      zone != 'Z') {
    return std::nullopt;
  }
  const std::chrono::year_month_day date{std::chrono::year(year),
                                         std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok()) return std::nullopt;
  const TimePoint t = std::chrono::sys_days(date) + std::chrono::hours(hour) +
                      std::chrono::minutes(minute) + std::chrono::seconds(second) +
                      std::chrono::milliseconds(millisecond);
  // sscanf takes signs and short fields ("+1", " 5"), and hours past 23 would roll over:
  // only the text format_utc itself writes is taken.
  if (format_utc(t) != text) return std::nullopt;
  return t;
}

std::string duration_text(std::chrono::seconds d) {
  const auto n = d.count();
  if (n != 0 && n % 86400 == 0) return std::to_string(n / 86400) + "d";
  if (n != 0 && n % 3600 == 0) return std::to_string(n / 3600) + "h";
  if (n != 0 && n % 60 == 0) return std::to_string(n / 60) + "m";
  return std::to_string(n) + "s";
}

}  // namespace herald
