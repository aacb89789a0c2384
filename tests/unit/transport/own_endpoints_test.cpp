#include "transport/own_endpoints.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

TEST(OwnEndpoints, SameAddressAndPortIsOwn) {
  const OwnEndpoints own({{"127.0.0.1", 2525}});
  EXPECT_TRUE(own.contains("127.0.0.1", 2525));
  EXPECT_FALSE(own.contains("127.0.0.1", 25));
  EXPECT_FALSE(own.contains("127.0.0.2", 2525));
}

TEST(OwnEndpoints, Ipv4MappedAddressCountsAsItsIpv4Address) {
  const OwnEndpoints own({{"127.0.0.1", 25}});
  EXPECT_TRUE(own.contains("::ffff:127.0.0.1", 25));
}

TEST(OwnEndpoints, WildcardListenerTakesEveryLoopbackAddressOnItsPort) {
  const OwnEndpoints own({{"0.0.0.0", 25}});
  EXPECT_TRUE(own.contains("127.0.0.1", 25));
  EXPECT_TRUE(own.contains("127.3.4.5", 25));  // RFC 1122 3.2.1.3: all of 127/8 is this host
  EXPECT_FALSE(own.contains("127.0.0.1", 26));
  EXPECT_FALSE(own.contains("::1", 25));  // 0.0.0.0 takes IPv4 only
}

TEST(OwnEndpoints, WildcardListenerDoesNotTakeAddressesOfOtherHosts) {
  const OwnEndpoints own({{"0.0.0.0", 25}, {"::", 25}});
  EXPECT_FALSE(own.contains("192.0.2.1", 25));    // RFC 5737 documentation address
  EXPECT_FALSE(own.contains("2001:db8::1", 25));  // RFC 3849
}

TEST(OwnEndpoints, Ipv6WildcardTakesBothFamilies) {
  const OwnEndpoints own({{"::", 25}});
  EXPECT_TRUE(own.contains("::1", 25));
  EXPECT_TRUE(own.contains("127.0.0.1", 25));
}

TEST(OwnEndpoints, WhatIsNotAnAddressIsNeverOwn) {
  const OwnEndpoints own({{"0.0.0.0", 25}});
  EXPECT_FALSE(own.contains("mx.example.test", 25));
  EXPECT_FALSE(own.contains("", 25));
}

}  // namespace
}  // namespace herald
