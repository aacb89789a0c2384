// Everything checking senders needs to run: its own io_context and thread, the resolver on
// it and the message authenticator. Apart from the listeners' io threads so that DNS
// waits and RSA verification never hold up other sessions.
#pragma once

#include <memory>

#include "config/config.h"
#include "smtp/server_connection.h"

namespace herald {

class SenderVerification {
 public:
  // Starts the thread. Throws DnsSetupError when [dns] cannot be used, ConfigError when the
  // [arc] key cannot be used.
  explicit SenderVerification(const Config& config);
  ~SenderVerification();  // stops the thread; checks still in flight are abandoned
  SenderVerification(const SenderVerification&) = delete;
  SenderVerification& operator=(const SenderVerification&) = delete;

  // For SmtpServices::sender_checks. Valid until destruction.
  SenderChecks& checks();

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
};

}  // namespace herald
