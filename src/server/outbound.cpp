#include "server/outbound.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <thread>

#include "dns/unbound_resolver.h"
#include "transport/smtp_transport.h"

namespace herald {

namespace asio = boost::asio;

struct Outbound::Parts {
  explicit Parts(const Config& config)
      : work(asio::make_work_guard(io)),
        resolver(io, config.dns),
        transport(io, resolver, config.outbound, config.routes,
                  {config.server.hostname, config.outbound.helo_name}),
        thread([this] { io.run(); }) {}

  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work;
  UnboundResolver resolver;
  SmtpTransport transport;
  std::thread thread;  // last: it runs `io` only once everything it serves exists
};

Outbound::Outbound(const Config& config) : parts_(std::make_unique<Parts>(config)) {}

Outbound::~Outbound() {
  shutdown();
  parts_->work.reset();
  parts_->io.stop();
  parts_->thread.join();
}

Transport& Outbound::transport() {
  return parts_->transport;
}

void Outbound::shutdown() {
  parts_->transport.shutdown();
}

}  // namespace herald
