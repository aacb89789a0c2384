// RCPT TO: local recipients, aliases and their forwards, relaying, and bounces to SRS
// addresses.

#include <algorithm>

#include "smtp/server_session.h"
#include "smtp/server_session_steps.h"
#include "util/ascii.h"

namespace herald {
namespace {

using session_steps::answer;

}  // namespace

SessionStep ServerSession::handle_rcpt(const Command& command) {
  transaction_.rcpt_seen = true;
  const std::string address = command.path.address();
  // RFC 5321 4.5.3.1.8: past the limit, 452 asks the client to send the rest later.
  if (transaction_.recipients.size() >= settings_.limits.max_recipients) {
    return answer(make_reply(452, "4.5.3", "Too many recipients"));
  }
  if (command.path.non_ascii && !transaction_.parameters.smtputf8) {
    return protocol_error(make_reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8"));
  }
  if (settings_.srs && settings_.srs->claims(address)) return return_to_sender(command);
  // RFC 5321 4.1.1.3: a bare <Postmaster> is this server's postmaster.
  const bool bare_postmaster = command.path.domain.empty();
  const std::string local = bare_postmaster ? settings_.postmaster : ascii_lower(address);
  const RecipientLookup found = directory_.lookup(local);
  switch (found.kind) {
    case RecipientLookup::Kind::unknown_user:
      return protocol_error(make_reply(550, "5.1.1", "<" + address + ">: no such user here"));
    case RecipientLookup::Kind::not_local:
      return relay_decision(command);
    case RecipientLookup::Kind::local:
      break;
  }
  return accept_targets(address, command.rcpt, local_targets(found, local));
}

// The mailboxes an address of ours reaches, and the remote addresses its alias forwards to:
// the postmaster set those up, so forwarding them is not relaying, whoever the client is.
std::vector<ServerSession::Target> ServerSession::local_targets(const RecipientLookup& found,
                                                                const std::string& alias) {
  std::vector<Target> targets;
  for (const Mailbox& mailbox : found.mailboxes) targets.push_back(Target{0, mailbox.address});
  for (const std::string& forward : found.forwards)
    targets.push_back(Target{0, forward, true, alias});
  return targets;
}

// A bounce to the SRS return path of a copy an alias forwarded (auth/srs.h) goes back to the
// original sender. Only addresses herald signed, and not too old, are taken: anyone can write
// the format, so anything else would make herald an open relay.
SessionStep ServerSession::return_to_sender(const Command& command) {
  const std::string address = command.path.address();
  // Shevek 2004, 4: an SRS address stands for a return path, so only bounces (RFC 5321 4.5.5:
  // the null reverse-path) go to it; anything else would use herald to reach the sender.
  if (!transaction_.reverse_path.is_null()) {
    return protocol_error(make_reply(
        550, "5.7.1", "<" + address + ">: an SRS address takes only bounces (MAIL FROM:<>)"));
  }
  // A client that keeps sending bad hashes is searching for a valid one.
  if (settings_.srs_failures && settings_.srs_failures->blocked(peer_.ip)) {
    return answer(make_reply(450, "4.7.1", "Too many invalid SRS addresses, try later"));
  }
  const SrsReverse back = settings_.srs->reverse(address, clock_.now());
  if (back.verdict == SrsReverse::Verdict::bad_hash && settings_.srs_failures) {
    settings_.srs_failures->record_failure(peer_.ip);
  }
  switch (back.verdict) {
    case SrsReverse::Verdict::valid:
      break;
    case SrsReverse::Verdict::expired:
      return protocol_error(make_reply(
          550, "5.1.1", "<" + address + ">: this SRS address has expired; no bounce is returned"));
    case SrsReverse::Verdict::malformed:
    case SrsReverse::Verdict::bad_hash:
      return protocol_error(
          make_reply(550, "5.1.1", "<" + address + ">: not an SRS address this server signed"));
  }
  // The original sender gets no second SRS rewrite: the bounce keeps its own (null) sender.
  const RecipientLookup found = directory_.lookup(back.original);
  switch (found.kind) {
    case RecipientLookup::Kind::unknown_user:
      return protocol_error(
          make_reply(550, "5.1.1", "<" + address + ">: its original sender is no user here"));
    case RecipientLookup::Kind::not_local:
      return accept_targets(address, command.rcpt, {Target{0, back.original, true}});
    case RecipientLookup::Kind::local:
      break;
  }
  return accept_targets(address, command.rcpt, local_targets(found, ascii_lower(back.original)));
}

SessionStep ServerSession::accept_targets(const std::string& address,
                                          const RcptParameters& parameters,
                                          std::vector<Target> targets) {
  const size_t index = transaction_.recipients.size();
  transaction_.recipients.push_back(Recipient{address, parameters});
  for (Target& target : targets) {
    const bool seen =
        std::any_of(transaction_.targets.begin(), transaction_.targets.end(),
                    [&](const Target& known) { return known.address == target.address; });
    if (seen) continue;
    target.recipient = index;
    transaction_.targets.push_back(std::move(target));
  }
  return answer(make_reply(250, "2.1.5", "Recipient OK"));
}

// RFC 5321 3.6.2 / RFC 6409 4.2: authenticated users relay, and so do clients of the networks
// the postmaster trusts (an open relay is what spammers look for); the rest are refused.
bool ServerSession::may_relay() const {
  return !authenticated_as_.empty() || trusted_network_;
}

// The one place that decides what happens to a recipient outside the local domains.
SessionStep ServerSession::relay_decision(const Command& command) {
  const std::string address = command.path.address();
  if (!may_relay()) {
    return protocol_error(make_reply(554, "5.7.1", "<" + address + ">: relaying denied"));
  }
  // RFC 5321 4.1.3 address literals bypass DNS; herald routes by domain only.
  if (command.path.domain.starts_with('[')) {
    return protocol_error(make_reply(
        553, "5.1.3", "<" + address + ">: relaying to address literals is not supported"));
  }
  // The domain's case carries no meaning (RFC 5321 2.4); the local part's belongs to the
  // receiving server and is kept as given.
  return accept_targets(
      address, command.rcpt,
      {Target{0, command.path.local_part + "@" + ascii_lower(command.path.domain), true}});
}

}  // namespace herald
