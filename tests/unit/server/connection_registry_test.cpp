#include "server/connection_registry.h"

#include <gtest/gtest.h>

#include <thread>

namespace herald {
namespace {

TEST(ConnectionRegistry, AdmitsUpToTheOverallLimit) {
  ConnectionRegistry registry(2, 10);
  EXPECT_TRUE(registry.admit("192.0.2.1"));
  EXPECT_TRUE(registry.admit("192.0.2.2"));
  EXPECT_FALSE(registry.admit("192.0.2.3"));
  EXPECT_EQ(registry.open_connections(), 2u);
}

TEST(ConnectionRegistry, AdmitsUpToThePerAddressLimit) {
  ConnectionRegistry registry(10, 2);
  EXPECT_TRUE(registry.admit("192.0.2.1"));
  EXPECT_TRUE(registry.admit("192.0.2.1"));
  EXPECT_FALSE(registry.admit("192.0.2.1"));
  EXPECT_TRUE(registry.admit("192.0.2.2"));
}

TEST(ConnectionRegistry, ConnectionsFromOneIpv6Slash64CountAsOneClient) {
  ConnectionRegistry registry(10, 2);
  EXPECT_TRUE(registry.admit("2001:db8:1:2::1"));
  EXPECT_TRUE(registry.admit("2001:db8:1:2::abcd"));
  EXPECT_FALSE(registry.admit("2001:db8:1:2:ffff:ffff:ffff:ffff"));
  EXPECT_TRUE(registry.admit("2001:db8:1:3::1"));
}

TEST(ConnectionRegistry, AnIpv4MappedAddressCountsAsItsIpv4Address) {
  ConnectionRegistry registry(10, 2);
  EXPECT_TRUE(registry.admit("192.0.2.1"));
  EXPECT_TRUE(registry.admit("::ffff:192.0.2.1"));
  EXPECT_FALSE(registry.admit("192.0.2.1"));
}

TEST(ConnectionRegistry, ReleaseGivesTheSlotBackToItsSlash64) {
  ConnectionRegistry registry(10, 1);
  const auto id = registry.admit("2001:db8:1:2::1");
  ASSERT_TRUE(id);
  EXPECT_FALSE(registry.admit("2001:db8:1:2::2"));
  registry.release(*id);
  EXPECT_TRUE(registry.admit("2001:db8:1:2::2"));
}

TEST(ConnectionRegistry, ReleaseFreesTheSlot) {
  ConnectionRegistry registry(10, 1);
  const auto id = registry.admit("192.0.2.1");
  ASSERT_TRUE(id);
  EXPECT_FALSE(registry.admit("192.0.2.1"));
  registry.release(*id);
  EXPECT_TRUE(registry.admit("192.0.2.1"));
}

TEST(ConnectionRegistry, IdsAreDistinct) {
  ConnectionRegistry registry(10, 10);
  const auto a = registry.admit("192.0.2.1");
  const auto b = registry.admit("192.0.2.1");
  EXPECT_NE(*a, *b);
}

TEST(ConnectionRegistry, ShutdownStopsEveryConnectionAndAdmitsNoMore) {
  ConnectionRegistry registry(10, 10);
  int stopped = 0;
  registry.set_stop(*registry.admit("192.0.2.1"), [&] { ++stopped; });
  registry.set_stop(*registry.admit("192.0.2.2"), [&] { ++stopped; });
  registry.shutdown_all();
  EXPECT_EQ(stopped, 2);
  EXPECT_FALSE(registry.admit("192.0.2.3"));
}

TEST(ConnectionRegistry, StopSetAfterShutdownRunsAtOnce) {
  ConnectionRegistry registry(10, 10);
  const auto id = registry.admit("192.0.2.1");
  registry.shutdown_all();
  bool stopped = false;
  registry.set_stop(*id, [&] { stopped = true; });
  EXPECT_TRUE(stopped);
}

TEST(ConnectionRegistry, WaitUntilEmptyReturnsWhenTheLastOneLeaves) {
  ConnectionRegistry registry(10, 10);
  const auto id = registry.admit("192.0.2.1");
  EXPECT_FALSE(registry.wait_until_empty(std::chrono::milliseconds(10)));
  std::thread leaver([&] { registry.release(*id); });
  EXPECT_TRUE(registry.wait_until_empty(std::chrono::seconds(5)));
  leaver.join();
}

}  // namespace
}  // namespace herald
