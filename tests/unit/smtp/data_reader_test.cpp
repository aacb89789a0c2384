#include "smtp/data_reader.h"

#include <gtest/gtest.h>

#include <string>

namespace herald {
namespace {

constexpr uint64_t kBig = 1 << 20;
constexpr uint32_t kLine = 1000;

// What the reader holds: the header section and the body not taken as pieces.
std::string held(const DataReader& reader) {
  return reader.header() + reader.body_rest();
}

struct Outcome {
  bool ended = false;
  size_t consumed = 0;
  ContentProblem problem = ContentProblem::none;
  std::string content;
};

// Feeds `wire` to a DATA reader in pieces of `piece` octets.
Outcome read_data(std::string_view wire, size_t piece, uint64_t max_size = kBig,
                  uint32_t max_line = kLine) {
  DataReader reader(max_size, max_line);
  Outcome out;
  for (size_t at = 0; at < wire.size() && !reader.data_ended(); at += piece) {
    const std::string_view slice = wire.substr(at, piece);
    const size_t used = reader.feed_data(slice);
    out.consumed += used;
    if (reader.data_ended()) break;
    EXPECT_EQ(used, slice.size());
  }
  out.ended = reader.data_ended();
  out.problem = reader.problem();
  out.content = held(reader);
  return out;
}

// Feeds `wire` split in two at every position, and checks all splits agree with reading it whole.
void expect_same_for_every_split(std::string_view wire) {
  const Outcome whole = read_data(wire, wire.size());
  for (size_t split = 1; split < wire.size(); ++split) {
    DataReader reader(kBig, kLine);
    size_t consumed = reader.feed_data(wire.substr(0, split));
    if (!reader.data_ended()) consumed += reader.feed_data(wire.substr(split));
    EXPECT_EQ(reader.data_ended(), whole.ended) << "split at " << split;
    EXPECT_EQ(consumed, whole.consumed) << "split at " << split;
    EXPECT_EQ(reader.problem(), whole.problem) << "split at " << split;
    EXPECT_EQ(held(reader), whole.content) << "split at " << split;
  }
}

TEST(DataReader, EndsAtCrLfDotCrLfAndKeepsTheLastLineEnding) {
  const Outcome out = read_data("Subject: hi\r\n\r\nbody\r\n.\r\n", 1 << 16);
  EXPECT_TRUE(out.ended);
  EXPECT_EQ(out.problem, ContentProblem::none);
  EXPECT_EQ(out.content, "Subject: hi\r\n\r\nbody\r\n");
}

TEST(DataReader, EmptyContentEndsAtOnce) {
  const Outcome out = read_data(".\r\n", 1 << 16);
  EXPECT_TRUE(out.ended);
  EXPECT_EQ(out.content, "");
}

TEST(DataReader, StopsAtTheTerminatorAndLeavesTheRestForCommands) {
  const std::string wire = "a\r\n.\r\nQUIT\r\n";
  DataReader reader(kBig, kLine);
  EXPECT_EQ(reader.feed_data(wire), 6u);
  EXPECT_TRUE(reader.data_ended());
  EXPECT_EQ(held(reader), "a\r\n");
}

TEST(DataReader, RemovesDotStuffing) {
  const Outcome out = read_data("..leading dot\r\n...\r\n. \r\n.\r\n", 1 << 16);
  EXPECT_EQ(out.problem, ContentProblem::none);
  EXPECT_EQ(out.content, ".leading dot\r\n..\r\n \r\n");
}

TEST(DataReader, DotInsideALineIsContent) {
  const Outcome out = read_data("a.\r\nb .\r\n.\r\n", 1 << 16);
  EXPECT_EQ(out.content, "a.\r\nb .\r\n");
}

TEST(DataReader, BareLfIsRefusedAndDoesNotEndTheContent) {
  // "\n.\n" and "\n.\r\n" are the SMTP smuggling endings: not endings here.
  const Outcome out = read_data("a\n.\nb\r\n\n.\r\nc\r\n.\r\n", 1 << 16);
  EXPECT_TRUE(out.ended);
  EXPECT_EQ(out.consumed, std::string("a\n.\nb\r\n\n.\r\nc\r\n.\r\n").size());
  EXPECT_EQ(out.problem, ContentProblem::bad_line_ending);
  EXPECT_EQ(out.content, "");
}

TEST(DataReader, CrLfDotLfDoesNotEndTheContent) {
  const Outcome out = read_data("a\r\n.\nb\r\n.\r\n", 1 << 16);
  EXPECT_TRUE(out.ended);
  EXPECT_EQ(out.problem, ContentProblem::bad_line_ending);
}

TEST(DataReader, BareCrIsRefused) {
  EXPECT_EQ(read_data("a\rb\r\n.\r\n", 1 << 16).problem, ContentProblem::bad_line_ending);
  EXPECT_EQ(read_data(".\rb\r\n.\r\n", 1 << 16).problem, ContentProblem::bad_line_ending);
  EXPECT_EQ(read_data("a\r\r\n.\r\n", 1 << 16).problem, ContentProblem::bad_line_ending);
}

TEST(DataReader, NulIsRefused) {
  const std::string wire("a\0b\r\n.\r\n", 8);
  EXPECT_EQ(read_data(wire, 1 << 16).problem, ContentProblem::bad_line_ending);
}

TEST(DataReader, TooBigContentIsReadToTheEndButNotKept) {
  const Outcome out = read_data("0123456789\r\n0123456789\r\n.\r\n", 1 << 16, 20);
  EXPECT_TRUE(out.ended);
  EXPECT_EQ(out.problem, ContentProblem::too_big);
  EXPECT_EQ(out.content, "");
}

TEST(DataReader, ContentOfExactlyTheLimitIsAccepted) {
  const Outcome out = read_data("0123456789\r\n.\r\n", 1 << 16, 12);
  EXPECT_EQ(out.problem, ContentProblem::none);
  EXPECT_EQ(out.content, "0123456789\r\n");
}

TEST(DataReader, LineLimitCountsTheCrLfButNotAStuffedDot) {
  const std::string fits = std::string(998, 'x') + "\r\n";
  EXPECT_EQ(read_data(fits + ".\r\n", 1 << 16).problem, ContentProblem::none);
  EXPECT_EQ(read_data("." + fits + ".\r\n", 1 << 16).problem, ContentProblem::none);
  const std::string too_long = std::string(999, 'x') + "\r\n";
  EXPECT_EQ(read_data(too_long + ".\r\n", 1 << 16).problem, ContentProblem::line_too_long);
}

TEST(DataReader, FirstProblemIsTheOneReported) {
  EXPECT_EQ(read_data("a\nb" + std::string(2000, 'x') + "\r\n.\r\n", 1 << 16).problem,
            ContentProblem::bad_line_ending);
}

TEST(DataReader, AnySplitGivesTheSameResult) {
  expect_same_for_every_split("Subject: x\r\n\r\n..dot\r\n.\r\nNEXT\r\n");
  expect_same_for_every_split("a\r\n.\r\n");
  expect_same_for_every_split(".\r\n");
  expect_same_for_every_split("a\n.\r\nb\r\n.\r\n");
  expect_same_for_every_split(".\rx\r\n.\r\n");
  expect_same_for_every_split("x\r\n..\r\n.\r\n");
}

TEST(DataReader, OneOctetAtATimeGivesTheSameResult) {
  const std::string wire = "From: a\r\n\r\n.hidden\r\n..\r\nend\r\n.\r\ntrailing";
  const Outcome whole = read_data(wire, wire.size());
  const Outcome bytewise = read_data(wire, 1);
  EXPECT_EQ(bytewise.content, whole.content);
  EXPECT_EQ(bytewise.consumed, whole.consumed);
  EXPECT_EQ(whole.content, "From: a\r\n\r\nhidden\r\n.\r\nend\r\n");
}

TEST(DataReaderChunks, ChunksAreTakenVerbatim) {
  DataReader reader(kBig, kLine);
  reader.feed_chunk("Subject: x\r\n\r\n.not stuffed\r\n");
  reader.feed_chunk(".\r\n");
  reader.end_chunks();
  EXPECT_EQ(reader.problem(), ContentProblem::none);
  EXPECT_EQ(held(reader), "Subject: x\r\n\r\n.not stuffed\r\n.\r\n");
}

TEST(DataReaderChunks, CrLfSplitAcrossChunksIsFine) {
  DataReader reader(kBig, kLine);
  reader.feed_chunk("a\r");
  reader.feed_chunk("\nb\r\n");
  reader.end_chunks();
  EXPECT_EQ(reader.problem(), ContentProblem::none);
  EXPECT_EQ(held(reader), "a\r\nb\r\n");
}

TEST(DataReaderChunks, TrailingCrIsABareCr) {
  DataReader reader(kBig, kLine);
  reader.feed_chunk("a\r\nb\r");
  reader.end_chunks();
  EXPECT_EQ(reader.problem(), ContentProblem::bad_line_ending);
}

TEST(DataReaderChunks, BareLfAndSizeAreChecked) {
  DataReader lf(kBig, kLine);
  lf.feed_chunk("a\nb");
  EXPECT_EQ(lf.problem(), ContentProblem::bad_line_ending);
  DataReader big(4, kLine);
  big.feed_chunk("abcde");
  EXPECT_EQ(big.problem(), ContentProblem::too_big);
}

}  // namespace
}  // namespace herald
