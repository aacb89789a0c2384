#include "smtp/client_key.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

TEST(ClientKey, AnIpv4AddressIsItsOwnKey) {
  EXPECT_EQ(client_key("192.0.2.7"), "192.0.2.7");
}

TEST(ClientKey, AnIpv4MappedIpv6AddressCountsAsItsIpv4Address) {
  EXPECT_EQ(client_key("::ffff:192.0.2.7"), "192.0.2.7");
}

TEST(ClientKey, Ipv6AddressesOfOneSlash64ShareAKey) {
  EXPECT_EQ(client_key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(client_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
}

TEST(ClientKey, Ipv6AddressesOfNeighbouringSlash64sDoNot) {
  EXPECT_NE(client_key("2001:db8:1:2::1"), client_key("2001:db8:1:3::1"));
}

TEST(ClientKey, TextThatIsNoAddressIsItsOwnKey) {
  EXPECT_EQ(client_key("not-an-address"), "not-an-address");
}

}  // namespace
}  // namespace herald
