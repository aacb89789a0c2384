// The control socket's line protocol, as text in and text out.
#include "server/control_protocol.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace herald
