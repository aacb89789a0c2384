// MAIL FROM: who may start a transaction, and the SPF check of the sender it leads to.

#include <fmt/format.h>

#include "smtp/identity_policy.h"
#include "smtp/server_session.h"
#include "smtp/server_session_steps.h"

namespace herald {
namespace {

using session_steps::answer;
using session_steps::work;

}  // namespace

SessionStep ServerSession::handle_mail(const Command& command) {
  // RFC 3463 4.3.1 "mail system full": while the store's disk is short of space, no new
  // transaction starts; the client keeps the message and tries again later.
  if (settings_.storage_low && settings_.storage_low->load(std::memory_order_relaxed)) {
    return answer(make_reply(452, "4.3.1", "Insufficient system storage"));
  }
  // RFC 6531 3.4: a UTF-8 address needs the SMTPUTF8 parameter.
  if (command.path.non_ascii && !command.mail.smtputf8) {
    return protocol_error(make_reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8"));
  }
  // RFC 1870 6.1: a declared size over the limit is refused at MAIL, before any data.
  if (command.mail.size && *command.mail.size > settings_.limits.max_message_size) {
    return answer(make_reply(552, "5.3.4", "Message size exceeds fixed maximum message size"));
  }
  // RFC 1870 6.1: a message that fits the limit but not the disk now is a temporary refusal.
  if (command.mail.size && settings_.storage_headroom &&
      *command.mail.size > settings_.storage_headroom->load(std::memory_order_relaxed)) {
    return answer(make_reply(452, "4.3.1", "Insufficient system storage"));
  }
  // RFC 2852 4.1: a BY time with mode R below the announced minimum is refused; herald
  // answers as for any unacceptable parameter value (501 5.5.4, RFC 3463 "invalid command
  // arguments").
  if (command.mail.by && command.mail.by->mode == DeliverByMode::return_if_late &&
      command.mail.by->seconds < settings_.limits.min_deliver_by.count()) {
    return protocol_error(make_reply(501, "5.5.4",
                                     fmt::format("BY time below the minimum of {} seconds",
                                                 settings_.limits.min_deliver_by.count())));
  }
  if (settings_.submission) {
    // RFC 6409 4.3 and RFC 4954 6: submission takes mail from authenticated users only.
    if (authenticated_as_.empty()) {
      return protocol_error(make_reply(530, "5.7.0", "Authentication required"));
    }
    // RFC 6409 8.1: the submission server may check that the sender is the user's own. A
    // null sender is for bounces, which users do not send.
    if (command.path.is_null() ||
        !directory_.may_send_as(authenticated_as_, command.path.address())) {
      return protocol_error(
          make_reply(553, "5.7.1", "Sender address not owned by <" + authenticated_as_ + ">"));
    }
  }
  transaction_ = Transaction{};
  transaction_.reverse_path = command.path;
  transaction_.parameters = command.mail;
  state_ = State::in_mail;
  if (verifies_sender()) return work(SessionStep::Next::check_sender);
  return answer(make_reply(250, "2.1.0", "Sender OK"));
}

// RFC 7208 2.4: the MAIL FROM identity, or postmaster@HELO for the null reverse-path.
SpfRequest ServerSession::sender_to_check() const {
  SpfRequest request;
  request.client_ip = peer_.ip;
  request.mail_from = transaction_.reverse_path.address();
  request.helo = helo_;
  request.receiver = settings_.hostname;
  return request;
}

SessionStep ServerSession::on_sender_checked(SpfOutcome outcome) {
  if (std::optional<Reply> refusal = spf_refusal(outcome, settings_.policy)) {
    start_over(State::greeted);
    return answer(std::move(*refusal));
  }
  transaction_.spf = SpfCheck{sender_to_check(), std::move(outcome)};
  return answer(make_reply(250, "2.1.0", "Sender OK"));
}

bool ServerSession::verifies_sender() const {
  return settings_.verify_senders && !may_relay();
}

}  // namespace herald
