// Outbound SMTP: carries a delivery to the server that takes mail for its recipient's domain
// (RFC 5321 section 5: a [[route]], else the domain's MX hosts in order, else its address),
// over a connection that is reused for later deliveries to the same destination.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "dns/resolver.h"
#include "queue/transport.h"
#include "transport/own_endpoints.h"

namespace boost::asio {
class io_context;
}

namespace herald {

class SmtpTransport final : public AsyncTransport, public Transport {
 public:
  // Connections and lookups run on `io` (all of them on one strand), which the caller runs
  // on one or more threads and keeps alive (and running) until this transport is destroyed.
  // The message's body is read from the store a piece at a time on a small thread pool the
  // transport owns (two threads; MessageBody::piece blocks), never on `io`: each attempt
  // reads one piece ahead of the one it writes and holds about two pieces of its message,
  // never the whole of it.
  // `resolver` must outlive it. `local_names` are herald's own host names and `own` its
  // listeners: an MX or route that leads to either is a loop. A route's host is a numeric
  // address or a name looked up with A and AAAA, never MX. TLS is opportunistic (RFC 3207,
  // RFC 7435): STARTTLS whenever offered (config.opportunistic_tls), the certificate
  // unverified; DANE (RFC 7672) and MTA-STS (RFC 8461) are not done. Does no I/O.
  SmtpTransport(boost::asio::io_context& io, Resolver& resolver, const OutboundConfig& config,
                std::vector<RouteConfig> routes, std::vector<std::string> local_names,
                OwnEndpoints own = {});
  // Does what shutdown() does, and calls `done` at once (from the destroying thread) for
  // every attempt that has not ended yet, with "4.4.2 herald is shutting down", so that
  // each start() gets its done even when `io` no longer runs. Idle connections say QUIT on
  // `io` afterwards, if it still runs.
  ~SmtpTransport() override;
  SmtpTransport(const SmtpTransport&) = delete;
  SmtpTransport& operator=(const SmtpTransport&) = delete;

  // AsyncTransport: one attempt at request.deliveries (transport "smtp", one recipient
  // domain, one envelope sender; `mailbox` is the remote address) in one transaction (one
  // MAIL, a RCPT each; RFC 5321 3.3), as a coroutine on `io`: no thread waits for it.
  // Thread-safe; returns at once. `done` runs on a thread of `io`, with one result per
  // delivery: delivered (the 250 to the end of data), temporary (4xx, DNS or connection
  // trouble, deadlines: "4.4.x" and what was awaited) or permanent (5xx, null MX, a domain
  // that does not exist, a loop back to herald: 5.4.6, a message the peer cannot take: too
  // large, 8-bit or UTF-8 content it does not support). Trouble before the transaction
  // (DNS, connections) is every recipient's; then each RCPT and the end of data decide.
  // `reply` is the remote reply in one line, or herald's own reason with an enhanced status
  // code. Fields for the ledger: remote=HOST[IP]:PORT, tls=TLSv1.3|no, peer_dsn=yes|no and
  // remote_mta=HOST for the DSN; none when no server was reached. Not idempotent in the
  // strict sense: a crash between the remote 250 and the queue's record gives a second copy
  // at the next attempt (RFC 5321 6.1 accepts duplicates over losses).
  //
  // Deadlines: every wait has its [outbound] timeout (connect, greeting, each reply, each
  // block of content written, the end of data; RFC 5321 4.5.3.2), per reply rather than per
  // read, and the whole attempt ends within attempt_timeout whatever the peers do. Caps:
  // at most max_mx_hosts MX hosts and max_addresses addresses are tried per attempt.
  //
  // Connections: after a message, a connection still in good order is kept for
  // config.idle_timeout and up to config.max_messages_per_connection messages, then QUIT.
  // It is kept per destination: the route's host and port for a routed domain (shared by
  // every domain routed there), otherwise the recipient domain (two domains with the same
  // MX hosts do not share, since that depends on DNS that may change). A later attempt to
  // that destination takes it; if it turns out closed before the transaction got a reply
  // (or the server's first word is 421), a new connection carries the message and the
  // attempt counts once. Concurrent attempts to one destination use separate connections;
  // how many is the queue's to limit.
  void start(AttemptRequest request, AttemptDone done) override;

  // Transport, for the queue runner that still gives each attempt a worker thread: start()
  // and a wait for its done. Blocks the calling thread (never one of `io`'s). To go once
  // every caller uses start().
  AttemptResult attempt(const MessageRecord& message, const Delivery& delivery,
                        const MessageContent& content) override;
  std::vector<AttemptResult> attempt_together(const MessageRecord& message,
                                              const std::vector<Delivery>& deliveries,
                                              const MessageContent& content) override;

  // Ends attempts in progress (they end temporary, "4.4.2 herald is shutting down") and
  // closes idle connections; later attempts end the same at once. Thread-safe.
  void shutdown();

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace herald
