#include "smtp/header_section_meter.h"

#include <gtest/gtest.h>

#include <string>

namespace herald {
namespace {

TEST(HeaderSectionMeter, MeasuresTheHeaderUpToTheEmptyLine) {
  HeaderSectionMeter meter;
  meter.feed("Subject: hi\r\nReceived: x\r\n\r\nReceived: in the body\r\n");
  EXPECT_TRUE(meter.header_ended());
  EXPECT_EQ(meter.header_size(), 26u);
  EXPECT_EQ(meter.trace_fields(), 1u);
}

TEST(HeaderSectionMeter, AnySplitGivesTheSameCounts) {
  const std::string content =
      "Received: a\r\n b\r\nDelivered-To: c\r\nreceived  : d\r\nX: y\r\n\r\nReceived: e\r\n";
  for (size_t split = 0; split <= content.size(); ++split) {
    HeaderSectionMeter meter;
    meter.feed(std::string_view(content).substr(0, split));
    meter.feed(std::string_view(content).substr(split));
    EXPECT_EQ(meter.trace_fields(), 3u) << split;
    EXPECT_EQ(meter.header_size(), 55u) << split;
  }
}

TEST(HeaderSectionMeter, AFoldedLineIsNoNewField) {
  HeaderSectionMeter meter;
  meter.feed("Subject: x\r\n Received: folded\r\n\r\n");
  EXPECT_EQ(meter.trace_fields(), 0u);
}

}  // namespace
}  // namespace herald
