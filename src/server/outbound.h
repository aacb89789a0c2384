// Everything outbound SMTP needs to run: its own io_context and thread, the resolver on it,
// the SMTP transport and the DKIM signing in front of it. Kept apart
// from the listeners' io_context so that shutting the listeners down does not pull DNS and
// connections from under attempts still running.
#pragma once

#include <memory>
#include <vector>

#include "auth/dkim_signing_table.h"
#include "config/config.h"
#include "queue/transport.h"
#include "transport/own_endpoints.h"
#include "util/swappable.h"

namespace herald {

class Outbound {
 public:
  // Loads the [[dkim]] keys and starts the threads. `own_listeners` are where heraldd
  // listens: mail whose next hop is one of them is a loop (permanent 5.4.6, RFC 5321 5.1).
  // Throws ConfigError when a key cannot be used, DnsSetupError when [dns] cannot be used.
  Outbound(const Config& config, std::vector<OwnListener> own_listeners);
  // Shuts down if not yet done, lets signing still queued finish (its attempts then end
  // at once), stops the io thread; an attempt not yet ended gets its done then.
  ~Outbound();
  Outbound(const Outbound&) = delete;
  Outbound& operator=(const Outbound&) = delete;

  // The transport of deliveries with transport "smtp", each attempt a coroutine on the
  // outbound io thread; DKIM signing (while the table has keys) runs first on a small pool
  // of its own, never on that thread. Valid until destruction.
  AsyncTransport& async_transport();

  // Ends attempts in progress (they come back as temporary failures) so that the queue
  // runner can stop without waiting out remote timeouts. Thread-safe, idempotent.
  void shutdown();

  // The [[dkim]] keys signing uses, for a reload to replace (server/config_reload.h):
  // attempts that start afterwards sign with the new table, even when the start had none.
  // Valid until destruction.
  Swappable<DkimSigningTable>& dkim_keys();

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
};

}  // namespace herald
