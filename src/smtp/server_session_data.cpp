// DATA and BDAT: receiving the content, and refusing what it must not be.

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "smtp/server_session.h"
#include "smtp/server_session_steps.h"
#include "util/message_id.h"

namespace herald {
namespace {

using session_steps::answer;

// RFC 3463 4.3.1 "mail system full": the in-flight budget has no room; the client tries later.
Reply insufficient_storage() {
  return make_reply(452, "4.3.1", "Insufficient system storage");
}

}  // namespace

// The reader of one message's content, with every limit it is checked against while it arrives.
// The message id is chosen now, so that body pieces can be stored under it as they come.
void ServerSession::start_reading() {
  const LimitsConfig& limits = settings_.limits;
  transaction_.reader.emplace(
      limits.max_message_size, limits.max_data_line,
      ContentChecks{limits.max_header_size, limits.max_hops, settings_.in_flight_budget});
  transaction_.message_id = new_message_id(clock_.now());
}

bool ServerSession::piece_ready() const {
  return transaction_.reader && transaction_.reader->piece_ready();
}

BodyPiece ServerSession::take_piece() {
  DataReader& reader = *transaction_.reader;
  BodyPiece piece{transaction_.message_id, reader.pieces_taken(), reader.take_piece()};
  arriving_ = ArrivingBody{transaction_.message_id, reader.pieces_taken()};
  return piece;
}

void ServerSession::on_piece_not_stored() {
  transaction_.reader->refuse(ContentProblem::not_stored);
}

uint64_t ServerSession::header_octets() const {
  const uint64_t arriving = transaction_.reader ? transaction_.reader->header().size() : 0;
  return std::max<uint64_t>(arriving, accepted_.content.header.size());
}

std::vector<ArrivingBody> ServerSession::take_abandoned_bodies() {
  return std::exchange(abandoned_, {});
}

bool ServerSession::no_room_in_flight() const {
  return settings_.in_flight_budget && settings_.in_flight_budget->exhausted();
}

SessionStep ServerSession::handle_data(const Command&) {
  if (!transaction_.rcpt_seen) return protocol_error(make_reply(503, "5.5.1", "Send RCPT first"));
  // RFC 2920 3.1: with every RCPT refused, DATA fails and the client sends no content.
  if (transaction_.recipients.empty()) {
    return answer(make_reply(554, "5.5.1", "No valid recipients"));
  }
  // The budget is full now: the transaction ends here rather than after the transfer.
  if (no_room_in_flight()) {
    start_over(State::greeted);
    return answer(insufficient_storage());
  }
  start_reading();
  // RFC 2034 3: no enhanced code on 3xx replies.
  return answer(make_reply(354, "", "End data with <CR><LF>.<CR><LF>"),
                SessionStep::Next::read_data);
}

SessionStep ServerSession::handle_bdat(const Command& command) {
  chunk_is_last_ = command.last_chunk;
  // RFC 3030 2: the chunk follows the command unasked, so even a refused BDAT has its
  // octets read (and dropped) before the answer; otherwise they would be taken as commands.
  if (!transaction_.rcpt_seen) {
    chunk_refusal_ = make_reply(503, "5.5.1", "Send RCPT first");
  } else if (transaction_.recipients.empty()) {
    chunk_refusal_ = make_reply(554, "5.5.1", "No valid recipients");
  } else if (state_ == State::in_mail && no_room_in_flight()) {
    chunk_refusal_ = insufficient_storage();
  } else if (state_ == State::in_mail) {
    start_reading();
    state_ = State::in_chunks;
  }
  return SessionStep{std::nullopt, SessionStep::Next::read_chunk, command.chunk_size};
}

size_t ServerSession::on_data(std::string_view input) {
  return transaction_.reader->feed_data(input);
}

bool ServerSession::data_complete() const {
  return transaction_.reader && transaction_.reader->data_ended();
}

SessionStep ServerSession::on_data_end() {
  if (transaction_.reader->problem() != ContentProblem::none) {
    return refuse_content(transaction_.reader->problem());
  }
  return accept_content();
}

size_t ServerSession::on_chunk_data(std::string_view piece) {
  if (chunk_refusal_) return piece.size();
  return transaction_.reader->feed_chunk(piece);
}

SessionStep ServerSession::on_chunk_end() {
  if (chunk_refusal_) {
    Reply refusal = std::move(*chunk_refusal_);
    chunk_refusal_.reset();
    // 503 is the client's mistake; 554 "no valid recipients" follows from RCPT refusals
    // that were counted already. RFC 3030 2: after a 4xx to BDAT the transaction has failed.
    if (refusal.code == 452) start_over(State::greeted);
    return refusal.code == 503 ? protocol_error(std::move(refusal)) : answer(std::move(refusal));
  }
  DataReader& reader = *transaction_.reader;
  if (chunk_is_last_) reader.end_chunks();
  // RFC 3030 2: a failed chunk ends the transaction; the client must start over.
  if (reader.problem() != ContentProblem::none) return refuse_content(reader.problem());
  if (!chunk_is_last_) {
    return answer(make_reply(250, "2.0.0", fmt::format("{} octets received", reader.size())));
  }
  return accept_content();
}

SessionStep ServerSession::refuse_content(ContentProblem problem) {
  start_over(State::greeted);
  switch (problem) {
    case ContentProblem::too_big:
      return answer(make_reply(552, "5.3.4", "Message size exceeds fixed maximum message size"));
    case ContentProblem::line_too_long:
      return answer(make_reply(554, "5.6.0",
                               fmt::format("Message has a line longer than {} octets; not accepted",
                                           settings_.limits.max_data_line)));
    case ContentProblem::header_too_big:
      // RFC 3463 5.3.4: too big for this system, whatever SIZE announced for the whole.
      return answer(make_reply(
          552, "5.3.4",
          fmt::format("Message header section exceeds fixed maximum of {} octets; not accepted",
                      settings_.limits.max_header_size)));
    case ContentProblem::too_many_hops:
      // RFC 5321 6.3: a message with this many trace fields is in a loop; RFC 3463 5.4.6.
      return answer(make_reply(
          554, "5.4.6",
          fmt::format("Too many hops: more than {} Received/Delivered-To fields (mail loop?)",
                      settings_.limits.max_hops)));
    case ContentProblem::over_budget:
      return answer(insufficient_storage());
    case ContentProblem::not_stored:
      return answer(
          make_reply(451, "4.3.0", "Temporary failure storing the message, try again later"));
    case ContentProblem::bad_line_ending:
    case ContentProblem::none:
      break;
  }
  return answer(make_reply(
      554, "5.6.0", "Message contains bare CR, bare LF or NUL (RFC 5321 2.3.8); not accepted"));
}

}  // namespace herald
