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

namespace boost::asio {
class io_context;
}

namespace herald {

class SmtpTransport final : public Transport {
 public:
  // Connections and lookups run on `io`, which the caller runs on one or more threads and
  // keeps alive (and running) until this transport is destroyed. `resolver` must outlive it.
  // `local_names` are herald's own host names: an MX pointing at one of them is a loop.
  // Does no I/O.
  SmtpTransport(boost::asio::io_context& io, Resolver& resolver, const OutboundConfig& config,
                std::vector<RouteConfig> routes, std::vector<std::string> local_names);
  ~SmtpTransport() override;  // closes idle connections; call shutdown() first
  SmtpTransport(const SmtpTransport&) = delete;
  SmtpTransport& operator=(const SmtpTransport&) = delete;

  // One attempt at `delivery` (transport "smtp"; `delivery.mailbox` is the remote address),
  // blocking the calling worker thread (never an io thread of `io`) until its outcome is
  // known: delivered (the 250 to the end of data), temporary (4xx, DNS or connection
  // trouble, timeouts) or permanent (5xx, null MX, a domain that does not exist, a message
  // the peer cannot take: too large, 8-bit or UTF-8 content it does not support). `reply`
  // is the remote reply in one line, or herald's own reason with an enhanced status code.
  // Fields for the ledger: remote=HOST[IP]:PORT, tls=TLSv1.3|no, and remote_mta=HOST for
  // the DSN. Thread-safe. Not idempotent in the strict sense: a crash between the remote
  // 250 and the queue's record gives a second copy at the next attempt (RFC 5321 6.1
  // accepts duplicates over losses).
  AttemptResult attempt(const MessageRecord& message, const Delivery& delivery,
                        std::string_view content) override;

  // Ends attempts in progress (they return temporary, "4.4.2 herald is shutting down") and
  // closes idle connections; later attempts return the same at once. Thread-safe.
  void shutdown();

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace herald
