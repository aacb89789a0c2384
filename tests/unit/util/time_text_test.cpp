// Times as operators read them: format_utc and its inverse, parse_utc.
#include "util/time_text.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

TEST(TimeText, ParseUtcReadsBackWhatFormatUtcWrites) {
  const TimePoint t = from_unix_ms(1'700'000'000'123);
  EXPECT_EQ(format_utc(t), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(parse_utc("2023-11-14T22:13:20.123Z"), t);
  EXPECT_EQ(parse_utc("1970-01-01T00:00:00.000Z"), from_unix_ms(0));
}

TEST(TimeText, ParseUtcTakesNoOtherForm) {
  for (const char* text :
       {"", "2023-11-14T22:13:20Z", "2023-11-14T22:13:20.123+01:00", "2023-11-14 22:13:20.123Z",
        "2023-02-30T22:13:20.123Z", "2023-11-14T24:13:20.123Z", "2023-11-14T22:13:+1.123Z",
        "2023-11-14T22:13:20.123z"}) {
    EXPECT_EQ(parse_utc(text), std::nullopt) << text;
  }
}

}  // namespace
}  // namespace herald
