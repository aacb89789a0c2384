// Incremental decoding of message content as it arrives after DATA (dot-stuffed, ended by
// <CRLF>.<CRLF>, RFC 5321 4.1.1.4 and 4.5.2) or in BDAT chunks (RFC 3030), in pieces of any
// size, with herald's content checks. No I/O: the connection feeds it bytes and takes the
// body away a piece at a time (to the store), so a reader holds at most the header section
// and one piece of the body, whatever the size of the message.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "mime/message_content.h"
#include "smtp/header_section_meter.h"
#include "smtp/in_flight_budget.h"

namespace herald {

// Why content is refused. Only the first problem found is kept; reading goes on to the
// end of the content so that the session stays in step with the client.
enum class ContentProblem {
  none,
  too_big,          // more than max_size octets: 552 (RFC 1870 6.3)
  bad_line_ending,  // a bare CR, a bare LF or a NUL (RFC 5321 2.3.8): 554
  line_too_long,    // a line longer than max_line octets with its CRLF (RFC 5321 4.5.3.1.6)
  header_too_big,   // a header section over max_header_size octets: 552 5.3.4
  too_many_hops,    // more Received/Delivered-To fields than max_hops (RFC 5321 6.3): 554 5.4.6
  over_budget,      // the in-flight budget could not hold it: 452 4.3.1
  not_stored,       // a piece could not be written to the store: 451 4.3.0
};

// What else content is checked against, beside its size and line length; the defaults check
// nothing.
struct ContentChecks {
  uint64_t max_header_size = std::numeric_limits<uint64_t>::max();
  uint32_t max_hops = std::numeric_limits<uint32_t>::max();
  InFlightBudget* budget = nullptr;  // must outlive the reader; null: memory is not counted
};

class DataReader {
 public:
  // `max_size` bounds the stored content; `max_line` is the longest line, CRLF included.
  DataReader(uint64_t max_size, uint32_t max_line, ContentChecks checks = {});

  // DATA: consumes `input` up to and including the <CRLF>.<CRLF> that ends the content and
  // returns how many octets that was. Bytes after the end belong to the next command. It
  // stops early, before the end, when a body piece is full (piece_ready()): the caller takes
  // the piece and feeds the rest. The end is recognised only after CRLF: a "." line after a
  // bare LF is content (and a bad line ending), which is what defeats SMTP smuggling.
  size_t feed_data(std::string_view input);
  bool data_ended() const { return data_ended_; }

  // BDAT: every octet of a chunk is content; a message may arrive in several chunks, and a
  // CRLF may be split between them. Returns how many octets of `input` it took: fewer when a
  // body piece filled (as feed_data). Call end_chunks() after the LAST chunk.
  size_t feed_chunk(std::string_view input);
  void end_chunks();

  ContentProblem problem() const { return problem_; }
  // Refuses the content from now on (the store could not take a piece).
  void refuse(ContentProblem problem) { report(problem); }

  // A full piece of the body (MessageBody::kMaxPieceSize octets) waits to be taken; nothing
  // more is read until it is.
  bool piece_ready() const { return body_.size() >= MessageBody::kMaxPieceSize; }
  // The next piece of the body, in order, and how many came before it.
  std::string take_piece();
  uint32_t pieces_taken() const { return pieces_taken_; }
  uint64_t octets_taken() const { return octets_taken_; }

  // The decoded content (dot-stuffing removed), complete once the end is seen: the header
  // section (through its empty line) and the body not yet taken as pieces. Emptied as soon
  // as a problem is found: refused content is never kept.
  const std::string& header() const { return header_text_; }
  std::string& header() { return header_text_; }
  const std::string& body_rest() const { return body_; }
  std::string& body_rest() { return body_; }
  // Octets of content so far, taken pieces included.
  uint64_t size() const { return size_; }
  // The budget what the reader holds is charged to; it goes where the content goes.
  InFlightCharge& charge() { return charge_; }
  const HeaderSectionMeter& header_meter() const { return header_; }

 private:
  // Where the DATA decoder stands relative to the start of a line.
  enum class LineStart { at_start, after_dot, after_dot_cr, inside_line };

  void add(char c);
  size_t add_plain_run(std::string_view input);
  void keep(std::string_view octets);
  void keep_body(std::string_view octets);
  // Octets a plain run may take now: up to the end of the piece being filled.
  size_t room() const;
  void report(ContentProblem problem);

  // A piece and the octet add() may put past it.
  static constexpr size_t kPieceBuffer = MessageBody::kMaxPieceSize + 2;

  uint64_t max_size_;
  uint32_t max_line_;
  ContentChecks checks_;
  std::string header_text_;
  std::string body_;  // the piece being filled
  uint32_t pieces_taken_ = 0;
  uint64_t octets_taken_ = 0;
  InFlightCharge charge_;
  HeaderSectionMeter header_;
  uint64_t size_ = 0;
  uint64_t line_length_ = 0;
  bool after_cr_ = false;
  LineStart line_start_ = LineStart::at_start;
  bool data_ended_ = false;
  ContentProblem problem_ = ContentProblem::none;
};

}  // namespace herald
