// `herald mqtt sessions` as the operator reads it.
#include "server/mqtt_session_listing.h"

#include <gtest/gtest.h>

#include <sstream>

namespace herald {
namespace {

std::string listing(const mqtt::SessionList& list) {
  std::ostringstream out;
  write_mqtt_sessions(list, out);
  return out.str();
}

mqtt::SessionSnapshot session(std::string client_id, std::string peer) {
  return mqtt::SessionSnapshot{.client_id = std::move(client_id),
                               .peer = std::move(peer),
                               .version = mqtt::ProtocolVersion::v5,
                               .connected = from_unix_ms(1'700'000'000'123),
                               .subscriptions = 2,
                               .held = 3,
                               .held_bytes = 300,
                               .in_flight = 1};
}

TEST(MqttSessionListing, OneRowASessionWithQueuedAsHeldLessInFlight) {
  mqtt::SessionSnapshot old = session("b", "[::1]:40002");
  old.version = mqtt::ProtocolVersion::v3_1_1;
  old.subscriptions = 0;
  old.held = 0;
  old.held_bytes = 0;
  old.in_flight = 0;
  EXPECT_EQ(listing({.sessions = {session("sensor-1", "127.0.0.1:40001"), old}, .total = 2}),
            "CLIENT    PEER             VERSION  CONNECTED                 SUBSCRIPTIONS  QUEUED  "
            "IN-FLIGHT       BYTES\n"
            "sensor-1  127.0.0.1:40001  5        2023-11-14T22:13:20.123Z              2       2  "
            "        1         300\n"
            "b         [::1]:40002      3.1.1    2023-11-14T22:13:20.123Z              0       0  "
            "        0           0\n"
            "2 sessions\n");
}

TEST(MqttSessionListing, NoSessionIsOneLine) {
  EXPECT_EQ(listing({}), "0 sessions\n");
}

TEST(MqttSessionListing, ACutListSaysHowManyThereAre) {
  const std::string text = listing({.sessions = {session("a", "127.0.0.1:1")}, .total = 1500});
  EXPECT_TRUE(text.ends_with("\n1 of 1500 sessions\n")) << text;
  EXPECT_TRUE(
      listing({.sessions = {session("a", "127.0.0.1:1")}, .total = 1}).ends_with("\n1 session\n"));
}

TEST(MqttSessionListing, LongAndControlCharacterClientIdsStayInTheirColumn) {
  const std::string text = listing({.sessions = {session(std::string(40, 'x'), "127.0.0.1:1"),
                                                 session("a\x1b[2J", "127.0.0.1:2")},
                                    .total = 2});
  EXPECT_NE(text.find(std::string(31, 'x') + "~  127.0.0.1:1"), std::string::npos) << text;
  EXPECT_NE(text.find("a\\x1b[2J" + std::string(24, ' ') + "  127.0.0.1:2"), std::string::npos)
      << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
}

TEST(MqttSessionListing, InFlightReadPastHeldShowsNothingQueued) {
  mqtt::SessionSnapshot racing = session("a", "127.0.0.1:1");
  racing.held = 0;
  racing.in_flight = 1;
  EXPECT_NE(listing({.sessions = {racing}, .total = 1}).find("       0          1"),
            std::string::npos);
}

}  // namespace
}  // namespace herald
