// The content phase of ClientSession (smtp/client_session.h): the message's content as the
// connection hands it over, a piece at a time, written dot-stuffed after DATA or as BDAT
// chunks; the replies to them are handled with the others in client_session.cpp.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "smtp/client_session.h"

namespace herald {

void DotStuffer::stuff(std::string_view piece, std::string& out) {
  out.reserve(out.size() + piece.size() + piece.size() / 64);
  for (const char c : piece) {
    if (line_start_ && c == '.') out += '.';
    out += c;
    line_start_ = c == '\n';
    before_last_ = last_;
    last_ = c;
  }
  any_ = any_ || !piece.empty();
}

ClientStep ClientSession::on_content(std::string_view piece, bool last) {
  if (!wants_content_) throw std::logic_error("ClientSession::on_content while no content is due");
  wants_content_ = false;
  ClientStep step;
  if (state_ == State::chunk) {
    piece_was_last_ = last;
    send_chunk(piece, last, step);
  } else {
    stuffer_.stuff(piece, step.output);
    if (!last) {
      ask_for_content(step);
      return step;
    }
    // RFC 5321 4.1.1.4: the content ends with CRLF, then "." CRLF.
    if (!stuffer_.at_line_end()) step.output += "\r\n";
    step.output += ".\r\n";
    state_ = State::data_end;
  }
  // Replies that came with the one that asked for content are read now, in order.
  if (step.next == ClientStep::Next::read_reply) handle_replies(step);
  return step;
}

ClientStep ClientSession::on_content_unavailable(std::string_view reason) {
  ClientStep step;
  wants_content_ = false;
  if (state_ != State::closed) give_up("4.3.0 " + std::string(reason), false, step);
  step.next = ClientStep::Next::close;
  return step;
}

void ClientSession::start_content(ClientStep& step) {
  if (!any_accepted()) {
    // RFC 2920 3.1: a 354 after every RCPT failed still needs an end of data; send none.
    state_ = State::data_end;
    step.output += ".\r\n";
    return;
  }
  state_ = State::data;
  stuffer_ = DotStuffer{};
  ask_for_content(step);
}

void ClientSession::ask_for_content(ClientStep& step) {
  wants_content_ = true;
  step.next = ClientStep::Next::send_content;
}

// RFC 3030 2: each chunk is "BDAT <size>" then exactly that many octets, unstuffed; the last
// carries LAST. One chunk of `bytes` goes now; what is left of them waits for its reply.
void ClientSession::send_chunk(std::string_view bytes, bool last_of_piece, ClientStep& step) {
  if (bytes.empty() && !last_of_piece) {
    ask_for_content(step);  // an empty piece: nothing to chunk
    return;
  }
  const size_t length =
      std::min<uint64_t>(std::max<uint64_t>(settings_.chunk_size, 1), bytes.size());
  last_chunk_sent_ = last_of_piece && length == bytes.size();
  step.output += "BDAT " + std::to_string(length) + (last_chunk_sent_ ? " LAST" : "") + "\r\n";
  step.output += bytes.substr(0, length);
  chunk_rest_ = std::string(bytes.substr(length));
}

}  // namespace herald
