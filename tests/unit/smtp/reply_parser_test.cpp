#include "smtp/reply_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace herald {
namespace {

std::vector<Reply> parse_all(ReplyParser& parser) {
  std::vector<Reply> replies;
  while (std::optional<Reply> reply = parser.next()) replies.push_back(*reply);
  return replies;
}

TEST(ReplyParser, OneLineReplyGivesCodeAndText) {
  ReplyParser parser;
  parser.feed("250 OK\r\n");
  const std::vector<Reply> replies = parse_all(parser);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].code, 250);
  EXPECT_EQ(replies[0].enhanced, "");
  EXPECT_EQ(replies[0].lines, std::vector<std::string>{"OK"});
}

TEST(ReplyParser, CodeAloneIsAReply) {
  ReplyParser parser;
  parser.feed("354\r\n");
  const std::vector<Reply> replies = parse_all(parser);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].code, 354);
  EXPECT_EQ(replies[0].lines, std::vector<std::string>{""});
}

TEST(ReplyParser, MultiLineReplyEndsAtTheLineWithASpace) {
  ReplyParser parser;
  parser.feed("250-mx.example greets you\r\n250-PIPELINING\r\n");
  EXPECT_FALSE(parser.next());
  parser.feed("250 SIZE 1000\r\n");
  const std::vector<Reply> replies = parse_all(parser);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].lines,
            (std::vector<std::string>{"mx.example greets you", "PIPELINING", "SIZE 1000"}));
}

TEST(ReplyParser, MultiLineReplySplitAtEveryByteGivesTheSameReply) {
  const std::string wire = "250-2.1.0 first\r\n250-2.1.0 second\r\n250 2.1.0 third\r\n250 ok\r\n";
  for (size_t split = 0; split <= wire.size(); ++split) {
    ReplyParser parser;
    parser.set_enhanced_status_codes(true);
    parser.feed(wire.substr(0, split));
    parser.feed(wire.substr(split));
    const std::vector<Reply> replies = parse_all(parser);
    ASSERT_EQ(replies.size(), 2u) << "split at " << split;
    EXPECT_EQ(replies[0].enhanced, "2.1.0");
    EXPECT_EQ(replies[0].lines, (std::vector<std::string>{"first", "second", "third"}));
    EXPECT_EQ(replies[1].lines, std::vector<std::string>{"ok"});
  }
}

TEST(ReplyParser, ByteByByteFeedingWorks) {
  const std::string wire = "221-bye\r\n221 2.0.0 closing\r\n";
  ReplyParser parser;
  for (const char c : wire) parser.feed(std::string(1, c));
  const std::vector<Reply> replies = parse_all(parser);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].code, 221);
  EXPECT_EQ(replies[0].lines.back(), "2.0.0 closing");  // enhanced codes not announced
}

TEST(ReplyParser, EnhancedCodeIsParsedWhenAnnounced) {
  ReplyParser parser;
  parser.set_enhanced_status_codes(true);
  parser.feed("550 5.1.1 no such user\r\n");
  const std::optional<Reply> reply = parser.next();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->enhanced, "5.1.1");
  EXPECT_EQ(reply->lines, std::vector<std::string>{"no such user"});
}

TEST(ReplyParser, EnhancedCodeOfAnotherClassOrMalformedStaysText) {
  ReplyParser parser;
  parser.set_enhanced_status_codes(true);
  parser.feed("550 2.1.1 odd\r\n451 4.1 short\r\n452 4.1.1234 long\r\n250 2.1.0x\r\n");
  const std::vector<Reply> replies = parse_all(parser);
  ASSERT_EQ(replies.size(), 4u);
  for (const Reply& reply : replies) EXPECT_EQ(reply.enhanced, "");
  EXPECT_EQ(replies[0].lines[0], "2.1.1 odd");
  EXPECT_EQ(replies[3].lines[0], "2.1.0x");
}

TEST(ReplyParser, EnhancedCodeWithoutText) {
  ReplyParser parser;
  parser.set_enhanced_status_codes(true);
  parser.feed("250 2.0.0\r\n");
  const std::optional<Reply> reply = parser.next();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->enhanced, "2.0.0");
  EXPECT_EQ(reply->lines, std::vector<std::string>{""});
}

TEST(ReplyParser, DifferentCodesInOneReplyAreAnError) {
  ReplyParser parser;
  parser.feed("250-one\r\n251 two\r\n");
  EXPECT_FALSE(parser.next());
  EXPECT_EQ(parser.error(), ReplyError::code_changed);
}

TEST(ReplyParser, MalformedCodesAreErrors) {
  for (const std::string wire :
       {"25 x\r\n", "150 x\r\n", "650 x\r\n", "2a0 x\r\n", "250x\r\n", "\r\n", "hello\r\n"}) {
    ReplyParser parser;
    parser.feed(wire);
    EXPECT_FALSE(parser.next()) << wire;
    EXPECT_EQ(parser.error(), ReplyError::bad_code) << wire;
  }
}

TEST(ReplyParser, BareLineFeedOrCarriageReturnIsAnError) {
  ReplyParser lf;
  lf.feed("250 OK\n");
  EXPECT_EQ(lf.error(), ReplyError::bad_line_ending);
  ReplyParser cr;
  cr.feed("250 O\rK\r\n");
  EXPECT_EQ(cr.error(), ReplyError::bad_line_ending);
}

TEST(ReplyParser, NulIsAnError) {
  ReplyParser parser;
  parser.feed(std::string("250 O\0K\r\n", 9));
  EXPECT_EQ(parser.error(), ReplyError::bad_character);
}

TEST(ReplyParser, OverlongLineIsAnError) {
  ReplyParser parser;
  parser.feed("250 " + std::string(ReplyParser::kMaxLine, 'x'));
  EXPECT_EQ(parser.error(), ReplyError::line_too_long);
}

TEST(ReplyParser, LineAtTheLimitIsAccepted) {
  ReplyParser parser;
  parser.feed("250 " + std::string(ReplyParser::kMaxLine - 6, 'x') + "\r\n");
  EXPECT_EQ(parser.error(), ReplyError::none);
  EXPECT_TRUE(parser.next());
}

TEST(ReplyParser, TooManyLinesIsAnError) {
  ReplyParser parser;
  for (size_t i = 0; i <= ReplyParser::kMaxLines; ++i) parser.feed("250-x\r\n");
  EXPECT_EQ(parser.error(), ReplyError::too_many_lines);
}

TEST(ReplyParser, RepliesBeforeAnErrorCanStillBeTaken) {
  ReplyParser parser;
  parser.feed("250 OK\r\ngarbage\r\n");
  EXPECT_EQ(parser.error(), ReplyError::bad_code);
  EXPECT_TRUE(parser.next());
}

TEST(ReplyParser, DiscardForgetsBufferedInput) {
  ReplyParser parser;
  parser.feed("250 injected\r\n250-par");
  parser.discard_buffered();
  parser.feed("220 fresh\r\n");
  const std::vector<Reply> replies = parse_all(parser);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].code, 220);
}

}  // namespace
}  // namespace herald
