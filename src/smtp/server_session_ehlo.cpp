// HELO, EHLO and STARTTLS: opening the session, and starting it over inside TLS.

#include <string>

#include "smtp/server_session.h"
#include "smtp/server_session_steps.h"

namespace herald {
namespace {

using session_steps::answer;

}  // namespace

SessionStep ServerSession::handle_helo(const Command& command) {
  start_over(State::greeted);
  helo_ = command.helo_domain;
  extended_ = false;
  return answer(make_reply(250, "", settings_.hostname));
}

SessionStep ServerSession::handle_ehlo(const Command& command) {
  start_over(State::greeted);
  helo_ = command.helo_domain;
  extended_ = true;
  // RFC 2034 3: no enhanced codes in the EHLO reply; RFC 5321 4.1.1.1: one keyword a line.
  Reply r;
  r.code = 250;
  r.lines = {
      settings_.hostname + " greets " + helo_,
      "PIPELINING",                                                            // RFC 2920
      "SIZE " + std::to_string(settings_.limits.max_message_size),             // RFC 1870
      "8BITMIME",                                                              // RFC 6152
      "SMTPUTF8",                                                              // RFC 6531
      "ENHANCEDSTATUSCODES",                                                   // RFC 2034
      "CHUNKING",                                                              // RFC 3030
      "DSN",                                                                   // RFC 3461
      "DELIVERBY " + std::to_string(settings_.limits.min_deliver_by.count()),  // RFC 2852
      // RFC 6710 9: no priority-assignment policy name; the full -9..9 scale is kept.
      "MT-PRIORITY",
  };
  // RFC 3207 4.2: STARTTLS is not offered again once TLS is active.
  if (settings_.starttls_offered && !tls_) r.lines.push_back("STARTTLS");
  // RFC 4954 14 and RFC 8314 4.1: passwords in the clear only ever travel inside TLS, so
  // AUTH is not even offered before it; AUTH is for submission, not for the MX (port 25).
  if (settings_.submission && tls_) r.lines.push_back("AUTH PLAIN LOGIN");
  return answer(std::move(r));
}

SessionStep ServerSession::handle_starttls(const Command&) {
  if (tls_) return protocol_error(make_reply(503, "5.5.1", "TLS already active"));
  if (!settings_.starttls_offered) return answer(make_reply(454, "4.7.0", "TLS not available"));
  return answer(make_reply(220, "2.0.0", "Ready to start TLS"), SessionStep::Next::start_tls);
}

void ServerSession::on_tls_started(TlsInfo tls) {
  tls_ = std::move(tls);
  // RFC 3207 4.2: forget everything the client said before the handshake.
  start_over(State::fresh);
  helo_.clear();
  extended_ = false;
}

}  // namespace herald
