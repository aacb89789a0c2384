// A MessageBody cut into pieces where a test says, so that what reads a body can be shown to
// handle a line, a CRLF or a "." that a piece boundary splits; and that counts the pieces
// read, so that a test can show what was never read.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "mime/message_content.h"

namespace herald::test_support {

class PiecedBody final : public MessageBody {
 public:
  // `text` cut before each of `cuts` (ascending offsets into it): {5, 9} gives the pieces
  // [0, 5), [5, 9), [9, end).
  PiecedBody(const std::string& text, const std::vector<size_t>& cuts) {
    size_t start = 0;
    for (const size_t cut : cuts) {
      pieces_.push_back(text.substr(start, cut - start));
      start = cut;
    }
    pieces_.push_back(text.substr(start));
    for (const std::string& piece : pieces_) size_ += piece.size();
  }

  uint64_t size() const override { return claimed_size_.value_or(size_); }
  size_t piece_count() const override { return pieces_.size(); }
  std::string piece(size_t index) const override {
    if (index >= pieces_.size()) throw ContentReadError("no such piece");
    ++reads_;
    if (index == failing_piece_) throw ContentReadError("piece " + std::to_string(index) + " lost");
    return pieces_[index];
  }

  // Pieces read so far (each call to piece() counts).
  size_t reads() const { return reads_; }
  // Reading piece `index` throws ContentReadError from now on.
  void fail_at(size_t index) { failing_piece_ = index; }
  // size() says `size` from now on, whatever the pieces hold: a body that misreports itself.
  void claim_size(uint64_t size) { claimed_size_ = size; }

 private:
  std::vector<std::string> pieces_;
  uint64_t size_ = 0;
  std::optional<uint64_t> claimed_size_;
  mutable std::atomic<size_t> reads_{0};
  std::atomic<size_t> failing_piece_{SIZE_MAX};
};

// `header` and a body of `body` cut at `cuts`, with the body kept for the test to look at.
struct PiecedContent {
  std::shared_ptr<PiecedBody> body;
  MessageContent content;
};

inline PiecedContent pieced_content(std::string header, const std::string& body,
                                    const std::vector<size_t>& cuts) {
  auto pieced = std::make_shared<PiecedBody>(body, cuts);
  return {pieced, MessageContent{std::move(header), pieced}};
}

}  // namespace herald::test_support
