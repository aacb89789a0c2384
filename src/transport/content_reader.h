// A message's content as a connection sends it (transport/smtp_connection.cpp): the header
// section, then the body a piece at a time, each piece read on an executor for blocking work
// (MessageBody::piece may read the disk; DESIGN.md section 5 keeps that off the io threads).
// At most one piece is read ahead of the one being sent, so an attempt holds about two
// pieces of its message at once, whatever the message's size.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "mime/message_content.h"

namespace herald {

// Used by one coroutine at a time (the connection's, on its strand); not thread-safe.
class ContentReader {
 public:
  // `blocking` runs the body reads and must outlive the reader; `content` is kept alive by it.
  ContentReader(std::shared_ptr<const MessageContent> content,
                boost::asio::any_io_executor blocking);

  // The next piece to send, in order: the header section with the body's first piece (one
  // write, and one BDAT chunk for a small message), then each further body piece; the
  // pieces joined are the content. Call only while !done(). Returns the piece read ahead if
  // there is one, else reads it now. Throws ContentReadError when it cannot be read.
  boost::asio::awaitable<std::string> next();

  // Reads the piece that next() returns next, so that it is at hand when the one before it
  // has been written: for running beside that write. Does nothing when that piece is read
  // already or there is none. Never throws: a failure waits for next() to throw it.
  boost::asio::awaitable<void> read_ahead();

  // next() has returned every piece.
  bool done() const { return next_ == count_; }
  // read_ahead() would read a piece.
  bool can_read_ahead() const { return !done() && !ahead_ && !ahead_error_; }

 private:
  boost::asio::awaitable<std::string> read(size_t index);

  std::shared_ptr<const MessageContent> content_;
  boost::asio::any_io_executor blocking_;
  size_t count_;                            // pieces next() returns
  size_t next_ = 0;                         // the index of the one it returns next
  std::optional<std::string> ahead_;        // piece next_, read ahead
  std::optional<std::string> ahead_error_;  // why reading piece next_ ahead failed
};

}  // namespace herald
