#include "smtp/auth_failure_limiter.h"

#include <gtest/gtest.h>

#include <string>

namespace herald {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

class AuthFailureLimiterTest : public ::testing::Test {
 protected:
  ManualClock clock_{from_unix_ms(1'704'207'845'000)};
  AuthFailureLimiter limiter_{clock_, 3, minutes(15)};

  void fail(std::string_view ip, int times) {
    for (int i = 0; i < times; ++i) limiter_.record_failure(ip);
  }
};

TEST_F(AuthFailureLimiterTest, AClientBelowTheLimitIsNotBlocked) {
  fail("192.0.2.1", 2);
  EXPECT_FALSE(limiter_.blocked("192.0.2.1"));
}

TEST_F(AuthFailureLimiterTest, TheLimitthFailureBlocksTheClient) {
  fail("192.0.2.1", 3);
  EXPECT_TRUE(limiter_.blocked("192.0.2.1"));
}

TEST_F(AuthFailureLimiterTest, OtherClientsAreNotBlocked) {
  fail("192.0.2.1", 3);
  EXPECT_FALSE(limiter_.blocked("192.0.2.2"));
}

TEST_F(AuthFailureLimiterTest, FailuresFromOneIpv6Slash64CountTogether) {
  limiter_.record_failure("2001:db8:1:2::1");
  limiter_.record_failure("2001:db8:1:2::2");
  limiter_.record_failure("2001:db8:1:2:ffff::3");
  EXPECT_TRUE(limiter_.blocked("2001:db8:1:2::99"));
  EXPECT_FALSE(limiter_.blocked("2001:db8:1:3::1"));
}

TEST_F(AuthFailureLimiterTest, AnIpv4MappedClientIsCountedAsItsIpv4Address) {
  fail("::ffff:192.0.2.1", 2);
  limiter_.record_failure("192.0.2.1");
  EXPECT_TRUE(limiter_.blocked("192.0.2.1"));
  EXPECT_TRUE(limiter_.blocked("::ffff:192.0.2.1"));
}

TEST_F(AuthFailureLimiterTest, TheBlockEndsWhenTheOldestFailureLeavesTheWindow) {
  fail("192.0.2.1", 1);
  clock_.advance(minutes(5));
  fail("192.0.2.1", 2);
  EXPECT_TRUE(limiter_.blocked("192.0.2.1"));
  clock_.advance(minutes(10) - seconds(1));
  EXPECT_TRUE(limiter_.blocked("192.0.2.1"));
  clock_.advance(seconds(1));
  EXPECT_FALSE(limiter_.blocked("192.0.2.1"));
}

TEST_F(AuthFailureLimiterTest, FailuresSpreadWiderThanTheWindowNeverBlock) {
  for (int i = 0; i < 10; ++i) {
    fail("192.0.2.1", 1);
    clock_.advance(minutes(8));
  }
  EXPECT_FALSE(limiter_.blocked("192.0.2.1"));
}

// A spread-out attack: a new client fails every second for ten windows. Clients whose
// failures have left the window are forgotten as the map grows, so what is held stays within
// twice the clients of one window (900) plus the small floor, not all 9,000.
TEST_F(AuthFailureLimiterTest, ClientsWhoseFailuresLeftTheWindowAreForgottenAsNewOnesCome) {
  for (int i = 0; i < 9000; ++i) {
    fail("2001:db8:" + std::to_string(i / 65536) + ":" + std::to_string(i % 65536) + "::1", 1);
    clock_.advance(seconds(1));
  }
  EXPECT_LE(limiter_.clients_counted(), 2 * 900 + 64);
  EXPECT_GE(limiter_.clients_counted(), 900u);  // those still in the window are all kept
}

}  // namespace
}  // namespace herald
