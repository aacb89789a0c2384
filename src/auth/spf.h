// SPF verification (RFC 7208): does the domain of MAIL FROM (or of HELO) authorise the
// client's address to send its mail? Types and a blocking entry point; the asynchronous
// one, for coroutines on the io loop, is in auth/spf_awaitable.h, which needs Asio.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "dns/resolver.h"
#include "util/clock.h"

namespace herald {

// RFC 7208 2.6.
enum class SpfResult { none, neutral, pass, fail, softfail, temperror, permerror };

std::string_view to_string(SpfResult result);

// Which identity to check (RFC 7208 2.3, 2.4).
enum class SpfIdentity {
  mail_from,  // the MAIL FROM domain; with the null reverse-path, postmaster@HELO instead
  helo,       // the HELO/EHLO domain, as postmaster@HELO
};

struct SpfRequest {
  std::string client_ip;             // the SMTP client's address, "192.0.2.1" or "2001:db8::1"
  std::string mail_from;             // the reverse-path without "<>"; "" for the null reverse-path
  std::string helo;                  // the HELO/EHLO argument
  std::string receiver = "unknown";  // this host's name, for %{r} in explanations
  SpfIdentity identity = SpfIdentity::mail_from;
};

struct SpfOptions {
  // RFC 7208 6.2: the explanation given for a "fail" when the domain publishes none.
  std::string default_explanation =
      "The domain's SPF record does not authorise this address to send its mail";
  // RFC 7208 4.6.4 limits. The defaults are the RFC's.
  int max_dns_mechanisms = 10;
  int max_void_lookups = 2;
  int max_mx_or_ptr_names = 10;
  // RFC 7208 4.6.4: the whole check is bounded in time (the RFC suggests at least 20 s);
  // a check that runs out is a temperror. Checked before each DNS lookup.
  std::chrono::milliseconds time_limit{20'000};
  // Where "now" comes from, for the time limit and %{t}; null means the system clock. Must
  // outlive the check.
  const Clock* clock = nullptr;
};

struct SpfOutcome {
  SpfResult result = SpfResult::none;
  // For "fail": the expanded exp= text, or options.default_explanation (RFC 7208 6.2).
  std::string explanation;
  // Why, in words for Received-SPF comments and logs ("record has two redirect=", ...).
  std::string reason;
  std::string domain;  // the domain that was checked first (from MAIL FROM or HELO)
};

// Runs check_host() to completion on the calling thread, with a private io_context; for
// tests and tools only, since it blocks until the resolver has answered every lookup.
// `resolver` must deliver its answers without needing the caller's own event loop (the
// MemoryResolver does).
SpfOutcome check_spf_blocking(Resolver& resolver, const SpfRequest& request,
                              const SpfOptions& options = {});

}  // namespace herald
