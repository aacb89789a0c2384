#include "server/sender_verification.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <thread>

#include "dns/unbound_resolver.h"
#include "util/clock.h"

namespace herald {

namespace asio = boost::asio;

struct SenderVerification::Parts {
  explicit Parts(const Config& config)
      : work(asio::make_work_guard(io)),
        resolver(io, config.dns),
        authenticator(resolver, clock),
        checks{resolver, authenticator, SpfOptions{}, io.get_executor()},
        thread([this] { io.run(); }) {}

  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work;
  SystemClock clock;
  UnboundResolver resolver;
  MessageAuthenticator authenticator;
  SenderChecks checks;
  std::thread thread;  // last: it runs `io` only once everything it serves exists
};

SenderVerification::SenderVerification(const Config& config)
    : parts_(std::make_unique<Parts>(config)) {}

SenderVerification::~SenderVerification() {
  parts_->work.reset();
  parts_->io.stop();
  parts_->thread.join();
}

SenderChecks& SenderVerification::checks() {
  return parts_->checks;
}

}  // namespace herald
