#include "server/outbound.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <thread>

#include "auth/dkim_signing_table.h"
#include "dns/unbound_resolver.h"
#include "transport/dkim_signing_transport.h"
#include "transport/smtp_transport.h"

namespace herald {

namespace asio = boost::asio;

namespace {

// With [[dkim]] entries, what signs mail before `smtp` carries it; otherwise nothing.
std::unique_ptr<DkimSigningTransport> signing_transport(const Config& config,
                                                        const DkimSigningTable& keys,
                                                        Transport& smtp, const Clock& clock) {
  if (keys.empty()) return nullptr;
  std::vector<IpNetwork> trusted;
  // load_config validated every entry.
  for (const std::string& network : config.server.trusted_networks)
    trusted.push_back(*IpNetwork::parse(network));
  return std::make_unique<DkimSigningTransport>(smtp, keys, std::move(trusted), clock);
}

}  // namespace

struct Outbound::Parts {
  explicit Parts(const Config& config)
      : dkim_keys(config.dkim),
        work(asio::make_work_guard(io)),
        resolver(io, config.dns),
        transport(io, resolver, config.outbound, config.routes,
                  {config.server.hostname, config.outbound.helo_name}),
        signing(signing_transport(config, dkim_keys, transport, clock)),
        thread([this] { io.run(); }) {}

  // First: a [[dkim]] key that cannot be loaded stops the start before anything runs.
  DkimSigningTable dkim_keys;
  SystemClock clock;
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work;
  UnboundResolver resolver;
  SmtpTransport transport;
  std::unique_ptr<DkimSigningTransport> signing;  // null without [[dkim]] entries
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
  if (parts_->signing) return *parts_->signing;
  return parts_->transport;
}

void Outbound::shutdown() {
  parts_->transport.shutdown();
}

}  // namespace herald
