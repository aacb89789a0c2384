#include "dns/rdata.h"

#include <gtest/gtest.h>

#include <vector>

namespace herald {
namespace {

using Bytes = std::vector<uint8_t>;

TEST(Rdata, AAndAaaaBecomeAddressText) {
  EXPECT_EQ(parse_a_rdata(Bytes{192, 0, 2, 1}), "192.0.2.1");
  Bytes v6(16, 0);
  v6[0] = 0x20, v6[1] = 0x01, v6[2] = 0x0d, v6[3] = 0xb8, v6[15] = 1;
  EXPECT_EQ(parse_aaaa_rdata(v6), "2001:db8::1");
  EXPECT_EQ(parse_a_rdata(Bytes{1, 2, 3}), std::nullopt);
}

TEST(Rdata, MxNameIsLowerCasedWithoutTrailingDot) {
  Bytes rdata{0, 10, 2, 'M', 'x', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
  EXPECT_EQ(parse_mx_rdata(rdata), (MxRecord{10, "mx.example"}));
}

TEST(Rdata, NullMxHasAnEmptyExchange) {
  // RFC 7505 3: preference 0, exchange ".".
  EXPECT_EQ(parse_mx_rdata(Bytes{0, 0, 0}), (MxRecord{0, ""}));
}

TEST(Rdata, TruncatedNameIsRejected) {
  EXPECT_EQ(parse_name_rdata(Bytes{5, 'a', 'b'}), std::nullopt);
  EXPECT_EQ(parse_name_rdata(Bytes{1, 'a'}), std::nullopt);
}

TEST(Rdata, TxtKeepsEachCharacterString) {
  Bytes rdata{3, 'a', 'b', 'c', 0, 2, 'd', 'e'};
  auto txt = parse_txt_rdata(rdata);
  ASSERT_TRUE(txt);
  EXPECT_EQ(txt->strings, (std::vector<std::string>{"abc", "", "de"}));
  EXPECT_EQ(parse_txt_rdata(Bytes{4, 'a'}), std::nullopt);
}

TEST(Rdata, TlsaFieldsAndBinaryData) {
  EXPECT_EQ(parse_tlsa_rdata(Bytes{3, 1, 1, 0xde, 0xad}), (TlsaRecord{3, 1, 1, {0xde, 0xad}}));
  EXPECT_EQ(parse_tlsa_rdata(Bytes{3, 1}), std::nullopt);
}

}  // namespace
}  // namespace herald
