// Bodies for the tests of the streamed DKIM body hash: one string cut into pieces at given
// offsets (so that a CRLF, a run of WSP or the empty lines at the end fall across pieces;
// support/pieced_body.h), the offsets to cut at, and a body whose pieces cannot be read.
#pragma once

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "mime/message_content.h"
#include "support/pieced_body.h"

namespace herald::test_support {

// The body cut at given offsets: the one the transport and DSN tests use.
using PieceBody = PiecedBody;

// Cuts every `step` octets.
inline std::vector<size_t> every(size_t step, size_t size) {
  std::vector<size_t> cuts;
  for (size_t at = step; at < size; at += step) cuts.push_back(at);
  return cuts;
}

// Pieces of 0 to `longest` octets, at random but the same on every run for `seed`.
inline std::vector<size_t> random_cuts(unsigned seed, size_t size, size_t longest) {
  std::mt19937 generator(seed);
  std::uniform_int_distribution<size_t> length(0, longest);
  std::vector<size_t> cuts;
  for (size_t at = length(generator); at < size; at += length(generator)) cuts.push_back(at);
  return cuts;
}

inline MessageContent content_in_pieces(std::string header, std::string body,
                                        std::vector<size_t> cuts) {
  return MessageContent{std::move(header),
                        std::make_shared<PieceBody>(std::move(body), std::move(cuts))};
}

// A body kept somewhere that fails: every piece is a ContentReadError.
class UnreadableBody : public MessageBody {
 public:
  uint64_t size() const override { return 100; }
  size_t piece_count() const override { return 1; }
  std::string piece(size_t) const override { throw ContentReadError("piece 0 is missing"); }
};

}  // namespace herald::test_support
