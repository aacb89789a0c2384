// Everything checking senders needs to run: its own io_context and thread for the resolver
// (every DNS answer, and the SPF checks, which are DNS work), a small pool for the CPU work
// of DKIM and ARC (body hashes, RSA and Ed25519 verification, ARC sealing), and the message
// authenticator. Apart from the listeners' io threads so that DNS waits and public-key
// operations never hold up other sessions, and apart from each other so that a message with
// a large body or many signatures never holds up another message's DNS answers.
#pragma once

#include <memory>

#include "config/config.h"
#include "smtp/server_connection.h"

namespace herald {

// [limits] verify_threads, or when 0 half the cores, at least 1 and at most 8: verification
// is a share of the work of receiving, not all of it, and the SMTP io and commit threads need
// the other cores.
unsigned verify_thread_count(const LimitsConfig& limits);

class SenderVerification {
 public:
  // Starts the threads: the resolver's and verify_thread_count(config.limits) for the pool.
  // Throws DnsSetupError when [dns] cannot be used, ConfigError when the
  // [arc] key cannot be used.
  explicit SenderVerification(const Config& config);
  ~SenderVerification();  // stops the threads; checks still in flight are abandoned
  SenderVerification(const SenderVerification&) = delete;
  SenderVerification& operator=(const SenderVerification&) = delete;

  // For SmtpServices::sender_checks. Valid until destruction.
  SenderChecks& checks();

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
};

}  // namespace herald
