// The control socket's line protocol, as text in and text out.
#include "server/control_protocol.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace herald {
namespace {

constexpr std::string_view kId = "01KAX3V6W4S6Y5C3A7RZ2B9JQH";

ControlRequest parsed(std::string_view line) {
  auto result = parse_control_request(line);
  EXPECT_TRUE(std::holds_alternative<ControlRequest>(result)) << line;
  return std::holds_alternative<ControlRequest>(result) ? std::get<ControlRequest>(result)
                                                        : ControlRequest{};
}

std::string refusal(std::string_view line) {
  auto result = parse_control_request(line);
  EXPECT_TRUE(std::holds_alternative<std::string>(result)) << line;
  return std::holds_alternative<std::string>(result) ? std::get<std::string>(result) : "";
}

TEST(ControlProtocol, RequestsRoundTripThroughTheirLines) {
  for (const ControlRequest& request :
       {ControlRequest{ControlVerb::retry, std::string(kId)},
        ControlRequest{ControlVerb::retry, ""}, ControlRequest{ControlVerb::hold, std::string(kId)},
        ControlRequest{ControlVerb::release, std::string(kId)},
        ControlRequest{ControlVerb::bounce, std::string(kId)}}) {
    std::string line = control_request_line(request);
    ASSERT_TRUE(line.ends_with("\n"));
    line.pop_back();
    EXPECT_EQ(parsed(line), request) << line;
  }
  EXPECT_EQ(control_request_line({ControlVerb::retry, ""}), "retry --all\n");
}

TEST(ControlProtocol, OnlyRetryTakesAll) {
  EXPECT_EQ(refusal("hold --all"), "hold takes one message id, not --all");
  EXPECT_EQ(refusal("release --all"), "release takes one message id, not --all");
  EXPECT_EQ(refusal("bounce --all"), "bounce takes one message id, not --all");
}

TEST(ControlProtocol, IdMustBeAStoredMessageId) {
  EXPECT_EQ(refusal("retry 42"),
            "'42' is not a message id (26 characters of upper-case Crockford base32)");
  EXPECT_EQ(refusal("retry"), "expected VERB ID (retry, hold, release, bounce)");
  EXPECT_EQ(refusal("RETRY " + std::string(kId)),
            "unknown verb 'RETRY' (retry, hold, release, bounce)");
}

TEST(ControlProtocol, ResponsesRoundTripAndErrorsStayOnePrintableLine) {
  EXPECT_EQ(control_response_line({true, 3, ""}), "ok 3\n");
  EXPECT_EQ(control_response_line({false, 0, "disk\nfull\x7f"}), "error disk?full?\n");
  EXPECT_EQ(parse_control_response("ok 3"), (ControlResponse{true, 3, ""}));
  EXPECT_EQ(parse_control_response("error no message X"),
            (ControlResponse{false, 0, "no message X"}));
  EXPECT_EQ(parse_control_response("ok"), std::nullopt);
  EXPECT_EQ(parse_control_response("ok 3x"), std::nullopt);
  EXPECT_EQ(parse_control_response("250 OK"), std::nullopt);
}

TEST(ControlProtocol, MqttSessionsRequestsRoundTripThroughTheirLines) {
  for (const MqttSessionsRequest& request :
       {MqttSessionsRequest{}, MqttSessionsRequest{.limit = 1000},
        MqttSessionsRequest{.limit = 0}}) {
    std::string line = control_request_line(request);
    ASSERT_TRUE(line.ends_with("\n"));
    line.pop_back();
    const auto parsed = parse_control_request(line);
    ASSERT_TRUE(std::holds_alternative<MqttSessionsRequest>(parsed)) << line;
    EXPECT_EQ(std::get<MqttSessionsRequest>(parsed), request) << line;
  }
  EXPECT_EQ(control_request_line(MqttSessionsRequest{}), "mqtt sessions\n");
  EXPECT_EQ(control_request_line(MqttSessionsRequest{.limit = 1000}), "mqtt sessions 1000\n");
}

TEST(ControlProtocol, MalformedMqttRequestsSayWhatIsExpected) {
  EXPECT_EQ(refusal("mqtt"), "expected an mqtt request (mqtt sessions [LIMIT])");
  EXPECT_EQ(refusal("mqtt session"), "unknown mqtt request 'session' (mqtt sessions [LIMIT])");
  EXPECT_EQ(refusal("mqtt sessions ten"), "'ten' is not a number of sessions");
  EXPECT_EQ(refusal("mqtt sessions 10 20"), "'10 20' is not a number of sessions");
  EXPECT_EQ(refusal("mqtt sessions "), "'' is not a number of sessions");
  EXPECT_EQ(refusal("mqttsessions"), "expected VERB ID (retry, hold, release, bounce)");
}

mqtt::SessionSnapshot sensor() {
  return mqtt::SessionSnapshot{.client_id = "sensor-1",
                               .peer = "127.0.0.1:40001",
                               .version = mqtt::ProtocolVersion::v5,
                               .connected = from_unix_ms(1'700'000'000'123),
                               .subscriptions = 2,
                               .held = 3,
                               .held_bytes = 300,
                               .in_flight = 1};
}

TEST(ControlProtocol, MqttSessionsAnswerIsALinePerSessionThenTheTotal) {
  mqtt::SessionSnapshot old = sensor();
  old.client_id = "\u00e9t\u00e9";  // UTF-8 stays as it is
  old.version = mqtt::ProtocolVersion::v3_1_1;
  EXPECT_EQ(mqtt_sessions_response_text({.sessions = {sensor(), old}, .total = 5}),
            "sensor-1\t127.0.0.1:40001\t5\t2023-11-14T22:13:20.123Z\t2\t3\t300\t1\n"
            "\u00e9t\u00e9\t127.0.0.1:40001\t3.1.1\t2023-11-14T22:13:20.123Z\t2\t3\t300\t1\n"
            "ok 5\n");
  EXPECT_EQ(mqtt_sessions_response_text({}), "ok 0\n");
}

TEST(ControlProtocol, ControlCharactersInAClientIdAreEscapedSoTheFieldsStayApart) {
  mqtt::SessionSnapshot odd = sensor();
  odd.client_id = "a\tb\nc\x1b";
  const std::string text = mqtt_sessions_response_text({.sessions = {odd}, .total = 1});
  EXPECT_TRUE(text.starts_with("a\\x09b\\x0ac\\x1b\t127.0.0.1:40001\t")) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
}

TEST(ControlProtocol, SessionLinesParseBackAndAreToldFromTheLastLine) {
  std::string line = mqtt_sessions_response_text({.sessions = {sensor()}, .total = 1});
  line = line.substr(0, line.find('\n'));
  EXPECT_TRUE(is_mqtt_session_line(line));
  EXPECT_EQ(parse_mqtt_session_line(line), sensor());
  EXPECT_FALSE(is_mqtt_session_line("ok 1"));
  EXPECT_FALSE(is_mqtt_session_line("error no\x01tab?"));
  EXPECT_EQ(
      parse_mqtt_session_line("sensor-1\t127.0.0.1:1\t4\t2023-11-14T22:13:20.123Z\t0\t0\t0\t0"),
      std::nullopt)
      << "no MQTT version 4 by that name";
  EXPECT_EQ(parse_mqtt_session_line("a\tb\t5\t2023-11-14T22:13:20.123Z\t0\t0\t0"), std::nullopt);
  EXPECT_EQ(parse_mqtt_session_line("a\tb\t5\tyesterday\t0\t0\t0\t0"), std::nullopt);
}

}  // namespace
}  // namespace herald
