#include "transport/content_reader.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <stdexcept>
#include <utility>

namespace herald {
namespace {

namespace asio = boost::asio;

// Runs on the blocking executor; takes its arguments by value, as a coroutine must.
asio::awaitable<std::string> read_piece(std::shared_ptr<const MessageBody> body, size_t index) {
  co_return body->piece(index);
}

}  // namespace

ContentReader::ContentReader(std::shared_ptr<const MessageContent> content,
                             asio::any_io_executor blocking)
    : content_(std::move(content)),
      blocking_(std::move(blocking)),
      count_(std::max<size_t>(1, content_->body->piece_count())) {}

asio::awaitable<std::string> ContentReader::read(size_t index) {
  std::string piece;
  if (index < content_->body->piece_count()) {
    // co_spawn resumes this coroutine on its own executor (the connection's strand) once the
    // read is done on the blocking one.
    piece =
        co_await asio::co_spawn(blocking_, read_piece(content_->body, index), asio::use_awaitable);
  }
  if (index != 0) co_return piece;
  std::string first;
  first.reserve(content_->header.size() + piece.size());
  first.append(content_->header).append(piece);
  co_return first;
}

asio::awaitable<std::string> ContentReader::next() {
  if (done()) throw std::logic_error("ContentReader::next after the last piece");
  if (!ahead_ && !ahead_error_) co_await read_ahead();
  if (ahead_error_) throw ContentReadError(*ahead_error_);
  std::string piece = std::move(*ahead_);
  ahead_.reset();
  ++next_;
  co_return piece;
}

asio::awaitable<void> ContentReader::read_ahead() {
  if (!can_read_ahead()) co_return;
  try {
    ahead_ = co_await read(next_);
  } catch (const std::exception& e) {
    // A ContentReadError from the store, or the read abandoned because the write beside it
    // failed (then nobody asks for the piece again).
    ahead_error_ = e.what();
  }
}

}  // namespace herald
