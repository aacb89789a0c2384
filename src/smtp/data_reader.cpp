#include "smtp/data_reader.h"

#include <algorithm>
#include <limits>

namespace herald {

DataReader::DataReader(uint64_t max_size, uint32_t max_line, ContentChecks checks)
    : max_size_(max_size), max_line_(max_line), checks_(checks), charge_(checks.budget) {}

size_t DataReader::feed_data(std::string_view input) {
  size_t i = 0;
  while (i < input.size() && !data_ended_ && !piece_ready()) {
    if (line_start_ == LineStart::inside_line) {
      if (const size_t taken = add_plain_run(input.substr(i))) {
        i += taken;
        continue;
      }
    }
    const char c = input[i++];
    switch (line_start_) {
      case LineStart::at_start:
        if (c == '.') {
          line_start_ = LineStart::after_dot;
          continue;
        }
        break;
      case LineStart::after_dot:
        if (c == '\r') {
          line_start_ = LineStart::after_dot_cr;
          continue;
        }
        // RFC 5321 4.5.2: a line that starts with a dot and goes on had the dot doubled
        // for transparency; the first one is dropped.
        break;
      case LineStart::after_dot_cr:
        if (c == '\n') {
          // RFC 5321 4.1.1.4: the CRLF before the dot already ended the last line.
          data_ended_ = true;
          return i;
        }
        add('\r');  // ".\r" and then not LF: the dot was stuffing, the CR is content
        break;
      case LineStart::inside_line:
        break;
    }
    add(c);
  }
  return i;
}

size_t DataReader::feed_chunk(std::string_view input) {
  size_t i = 0;
  while (i < input.size() && !piece_ready()) {
    if (const size_t taken = add_plain_run(input.substr(i))) {
      i += taken;
    } else {
      add(input[i++]);
    }
  }
  return i;
}

std::string DataReader::take_piece() {
  std::string piece = std::move(body_);
  body_.clear();
  // add() may put two octets where one was free (".\r" then not LF): the second one waits.
  if (piece.size() > MessageBody::kMaxPieceSize) {
    body_.assign(piece, MessageBody::kMaxPieceSize);
    piece.resize(MessageBody::kMaxPieceSize);
  }
  ++pieces_taken_;
  octets_taken_ += piece.size();
  return piece;
}

void DataReader::end_chunks() {
  // A CR as the very last octet never gets its LF.
  if (after_cr_) report(ContentProblem::bad_line_ending);
}

void DataReader::add(char c) {
  // RFC 5321 2.3.8: CR and LF appear only together as CRLF. A bare one is refused, not
  // repaired, since MTAs that repair them differently are what SMTP smuggling exploits.
  const bool ends_line = c == '\n' && after_cr_;
  if (after_cr_ && c != '\n') report(ContentProblem::bad_line_ending);
  if ((c == '\n' && !after_cr_) || c == '\0') report(ContentProblem::bad_line_ending);
  after_cr_ = c == '\r';

  ++line_length_;
  if (line_length_ > max_line_) report(ContentProblem::line_too_long);
  if (ends_line) line_length_ = 0;
  line_start_ = ends_line ? LineStart::at_start : LineStart::inside_line;

  ++size_;
  if (size_ > max_size_) report(ContentProblem::too_big);
  if (problem_ == ContentProblem::none) keep(std::string_view(&c, 1));
}

// The text of a line between its line endings is most of any message; it is taken in one
// step, with the same checks add() makes octet by octet.
size_t DataReader::add_plain_run(std::string_view input) {
  if (after_cr_) return 0;
  // Kept octets stop where the piece being filled is full; refused content is not kept.
  const size_t most =
      problem_ == ContentProblem::none ? std::min(input.size(), room()) : input.size();
  size_t n = 0;
  while (n < most && input[n] != '\r' && input[n] != '\n' && input[n] != '\0') ++n;
  if (n == 0) return 0;
  if (problem_ == ContentProblem::none) {
    // Which limit the octet-by-octet reading would have crossed first, line length winning
    // a tie as it does in add().
    const uint64_t line_room = max_line_ > line_length_ ? max_line_ - line_length_ : 0;
    const uint64_t size_room = max_size_ > size_ ? max_size_ - size_ : 0;
    if (n > line_room && line_room <= size_room) {
      report(ContentProblem::line_too_long);
    } else if (n > size_room) {
      report(ContentProblem::too_big);
    } else {
      keep(input.substr(0, n));
    }
  }
  line_length_ += n;
  size_ += n;
  line_start_ = LineStart::inside_line;
  return n;
}

size_t DataReader::room() const {
  // A plain run has no line ending, so it lies wholly in the header or wholly in the body.
  if (!header_.header_ended()) return std::numeric_limits<size_t>::max();
  return MessageBody::kMaxPieceSize > body_.size() ? MessageBody::kMaxPieceSize - body_.size() : 0;
}

// Every octet kept passes here: the header section is measured on the way and kept apart
// from the body, whose piece buffer is charged to the budget once, at its full size.
void DataReader::keep(std::string_view octets) {
  if (!header_.header_ended()) {
    header_.feed(octets);
    if (header_.header_size() > checks_.max_header_size) {
      report(ContentProblem::header_too_big);
      return;
    }
    if (header_.trace_fields() > checks_.max_hops) {
      report(ContentProblem::too_many_hops);
      return;
    }
    // The meter leaves the empty line that ends the section out of its count.
    const size_t in_header =
        header_.header_ended()
            ? std::min<size_t>(octets.size(), header_.header_size() + 2 - header_text_.size())
            : octets.size();
    const size_t needed = header_text_.size() + in_header;
    if (needed > header_text_.capacity()) {
      // Doubling, as std::string itself grows (libstdc++ rounds a smaller reserve up to it).
      const size_t grown = std::max(needed, 2 * header_text_.capacity());
      if (!charge_.grow_to(grown + body_.capacity())) {
        report(ContentProblem::over_budget);
        return;
      }
      header_text_.reserve(grown);
    }
    header_text_.append(octets.substr(0, in_header));
    octets.remove_prefix(in_header);
  }
  if (!octets.empty()) keep_body(octets);
}

void DataReader::keep_body(std::string_view octets) {
  if (body_.capacity() < kPieceBuffer) {
    if (!charge_.grow_to(header_text_.capacity() + kPieceBuffer)) {
      report(ContentProblem::over_budget);
      return;
    }
    body_.reserve(kPieceBuffer);
  }
  body_.append(octets);
}

void DataReader::report(ContentProblem problem) {
  if (problem_ != ContentProblem::none) return;
  problem_ = problem;
  header_text_.clear();
  header_text_.shrink_to_fit();
  body_.clear();
  body_.shrink_to_fit();
  charge_.reset();
}

}  // namespace herald
