// A message's content as every reader after the session sees it (the checks at end of data,
// the transports, DSNs): the header section in memory, bounded by [limits] max_header_size
// plus herald's own trace fields, and the body read a piece at a time from wherever it is
// kept (the store, or a string for small and test messages). Nothing here holds a whole
// body: a 100 MB message costs its readers one piece at a time (DESIGN.md section 5).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace herald {

// A body piece could not be read (an I/O error or a missing piece in the store). The reader
// that asked gives up on this message for now: a transport answers a temporary failure.
class ContentReadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The body of a message, in pieces. Immutable once made.
// Threading: every method may be called from any number of threads at once.
// Blocking: piece() may read from disk; call it from a worker pool, never an io thread.
class MessageBody {
 public:
  virtual ~MessageBody() = default;

  virtual uint64_t size() const = 0;  // octets of the whole body
  virtual size_t piece_count() const = 0;
  // Piece `index` (< piece_count()), in order: the pieces joined are the body. A piece may
  // be empty and has at most kMaxPieceSize octets. Throws ContentReadError.
  virtual std::string piece(size_t index) const = 0;

  static constexpr size_t kMaxPieceSize = 256 * 1024;
};

// A body held in one string: small messages, DSNs herald builds, tests. Its pieces are views
// of kMaxPieceSize octets (copied out one at a time).
class InlineBody : public MessageBody {
 public:
  explicit InlineBody(std::string text) : text_(std::move(text)) {}

  uint64_t size() const override { return text_.size(); }
  size_t piece_count() const override;
  std::string piece(size_t index) const override;

 private:
  std::string text_;
};

// The header section and the body of one message (RFC 5322 2.1): `header` holds the fields
// through the empty line that ends them, that line included; the body is everything after
// it. A message with no empty line is all header and has an empty body.
struct MessageContent {
  std::string header;
  std::shared_ptr<const MessageBody> body;  // never null

  uint64_t size() const { return header.size() + body->size(); }

  // Calls `visit` with the body's pieces in order until it returns false or the body ends.
  // Blocking as MessageBody::piece; throws ContentReadError.
  void read_body(const std::function<bool(std::string_view)>& visit) const;

  // `text` split at its first empty line, the body kept inline.
  static MessageContent from_text(std::string_view text);
  // The same header with `fields` put on top (trace fields, a DKIM signature), sharing the
  // body: what herald adds to a message never copies its body.
  MessageContent with_fields_on_top(std::string_view fields) const;
  // The whole content in one string. For small messages and tests only: it holds the body.
  std::string to_text() const;
};

// Where the header section of `text` ends: the offset just past the empty line that ends it
// (RFC 5322 2.1), or text.size() when it has none.
size_t header_section_end(std::string_view text);

}  // namespace herald
