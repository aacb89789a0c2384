#include "util/ip_network.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

TEST(IpNetwork, Ipv4PrefixContainsItsAddressesOnly) {
  const auto loopback = IpNetwork::parse("127.0.0.0/8");
  ASSERT_TRUE(loopback);
  EXPECT_TRUE(loopback->contains("127.0.0.1"));
  EXPECT_TRUE(loopback->contains("127.255.1.2"));
  EXPECT_FALSE(loopback->contains("128.0.0.1"));
  EXPECT_FALSE(loopback->contains("::1"));
}

TEST(IpNetwork, ABareAddressIsAHostNetwork) {
  const auto host = IpNetwork::parse("192.0.2.7");
  ASSERT_TRUE(host);
  EXPECT_TRUE(host->contains("192.0.2.7"));
  EXPECT_FALSE(host->contains("192.0.2.8"));
}

TEST(IpNetwork, Ipv6PrefixesMatchBitByBit) {
  const auto doc = IpNetwork::parse("2001:db8::/33");
  ASSERT_TRUE(doc);
  EXPECT_TRUE(doc->contains("2001:db8:7fff::1"));
  EXPECT_FALSE(doc->contains("2001:db8:8000::1"));
  EXPECT_TRUE(IpNetwork::parse("::1/128")->contains("::1"));
}

// RFC 4291 2.5.5.2: a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
TEST(IpNetwork, AnIpv4MappedPeerMatchesItsIpv4Network) {
  EXPECT_TRUE(IpNetwork::parse("127.0.0.0/8")->contains("::ffff:127.0.0.1"));
}

TEST(IpNetwork, MalformedNetworksAreRefused) {
  EXPECT_FALSE(IpNetwork::parse(""));
  EXPECT_FALSE(IpNetwork::parse("localhost"));
  EXPECT_FALSE(IpNetwork::parse("127.0.0.0/33"));
  EXPECT_FALSE(IpNetwork::parse("127.0.0.0/"));
  EXPECT_FALSE(IpNetwork::parse("127.0.0.0/8x"));
  EXPECT_FALSE(IpNetwork::parse("10.1.2.3/8"));  // host bits set: a typo, not a network
  EXPECT_FALSE(IpNetwork::parse("::ffff:10.0.0.0/104"));
}

TEST(IpNetwork, NonAddressesAreInNoNetwork) {
  EXPECT_FALSE(IpNetwork::parse("0.0.0.0/0")->contains("not-an-address"));
  EXPECT_TRUE(IpNetwork::parse("0.0.0.0/0")->contains("203.0.113.9"));
}

}  // namespace
}  // namespace herald
