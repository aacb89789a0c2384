#include "server/sender_verification.h"

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <optional>
#include <thread>
#include <variant>

#include "dns/unbound_resolver.h"
#include "util/clock.h"

namespace herald {

namespace asio = boost::asio;

namespace {

// A configured key that cannot be used stops the start: forwarded mail must not quietly
// leave unsealed.
std::optional<ArcSealer> load_sealer(const ArcSealConfig& arc) {
  if (arc.key.empty()) return std::nullopt;
  auto loaded = ArcSealer::from_pem_file(arc.key, arc.domain, arc.selector);
  if (auto* error = std::get_if<ArcSealError>(&loaded)) {
    throw ConfigError("[arc] domain=" + arc.domain + " selector=" + arc.selector +
                      ": cannot use the sealing key: " + error->reason);
  }
  return std::get<ArcSealer>(std::move(loaded));
}

}  // namespace

unsigned verify_thread_count(const LimitsConfig& limits) {
  if (limits.verify_threads > 0) return limits.verify_threads;
  return std::clamp(std::thread::hardware_concurrency() / 2, 1u, 8u);
}

struct SenderVerification::Parts {
  explicit Parts(const Config& config)
      : pool(verify_thread_count(config.limits)),
        work(asio::make_work_guard(io)),
        resolver(io, config.dns),
        authenticator(
            resolver, clock,
            MessageAuthenticatorOptions{config.policy.max_signatures, pool.get_executor()}),
        sealer(load_sealer(config.arc)),
        checks{resolver,          authenticator,      SpfOptions{}, sealer ? &*sealer : nullptr,
               io.get_executor(), pool.get_executor()},
        thread([this] { io.run(); }) {}

  // First, so that it is destroyed last: its threads run work that uses everything below.
  asio::thread_pool pool;
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work;
  SystemClock clock;
  UnboundResolver resolver;
  MessageAuthenticator authenticator;
  std::optional<ArcSealer> sealer;
  SenderChecks checks;
  std::thread thread;  // last: it runs `io` only once everything it serves exists
};

SenderVerification::SenderVerification(const Config& config)
    : parts_(std::make_unique<Parts>(config)) {}

SenderVerification::~SenderVerification() {
  parts_->work.reset();
  parts_->io.stop();
  parts_->thread.join();
  // Work already on the pool finishes (each piece is short); what is queued is dropped.
  parts_->pool.stop();
  parts_->pool.join();
}

SenderChecks& SenderVerification::checks() {
  return parts_->checks;
}

}  // namespace herald
