// Everything outbound SMTP needs to run: its own io_context and thread, the resolver on it,
// the SMTP transport and, with [[dkim]] entries, the DKIM signing in front of it. Kept apart
// from the listeners' io_context so that shutting the listeners down does not pull DNS and
// connections from under attempts still running.
#pragma once

#include <memory>

#include "config/config.h"
#include "queue/transport.h"

namespace herald {

class Outbound {
 public:
  // Loads the [[dkim]] keys and starts the thread. Throws ConfigError when a key cannot be
  // used, DnsSetupError when [dns] cannot be used.
  explicit Outbound(const Config& config);
  ~Outbound();  // shuts down if not yet done, then stops the io thread
  Outbound(const Outbound&) = delete;
  Outbound& operator=(const Outbound&) = delete;

  // The transport of deliveries with transport "smtp", signing what DkimSigningTransport
  // signs when [[dkim]] entries exist. Valid until destruction.
  Transport& transport();

  // Ends attempts in progress (they come back as temporary failures) so that the queue
  // runner can stop without waiting out remote timeouts. Thread-safe, idempotent.
  void shutdown();

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
};

}  // namespace herald
