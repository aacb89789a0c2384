#include "server/outbound.h"

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <thread>

#include "auth/dkim_signing_table.h"
#include "dns/unbound_resolver.h"
#include "transport/dkim_signing_transport.h"
#include "transport/smtp_transport.h"

namespace herald {

namespace asio = boost::asio;

namespace {

// What signs mail before `smtp` carries it, with whatever keys `keys` holds at the time.
std::unique_ptr<DkimSigningTransport> signing_transport(const Config& config,
                                                        const Swappable<DkimSigningTable>& keys,
                                                        Transport& smtp, const Clock& clock) {
  std::vector<IpNetwork> trusted;
  // load_config validated every entry.
  for (const std::string& network : config.server.trusted_networks)
    trusted.push_back(*IpNetwork::parse(network));
  return std::make_unique<DkimSigningTransport>(smtp, keys, std::move(trusted), clock);
}

// DKIM signing in front of an AsyncTransport: the RSA work (about a millisecond per key)
// runs on `pool`, never on the io thread that carries every attempt (DESIGN.md section 5).
// Without keys the attempt starts at once, with no hop through the pool. start() returns
// at once; `done` comes from `inner` as its contract says.
class SigningStart final : public AsyncTransport {
 public:
  SigningStart(const DkimSigningTransport& signer, const Swappable<DkimSigningTable>& keys,
               AsyncTransport& inner, asio::thread_pool& pool)
      : signer_(signer), keys_(keys), inner_(inner), pool_(pool) {}

  void start(AttemptRequest request, AttemptDone done) override {
    if (keys_.current()->empty()) {
      inner_.start(std::move(request), std::move(done));
      return;
    }
    asio::post(pool_, [this, request = std::move(request), done = std::move(done)]() mutable {
      std::string fields;
      try {
        fields = signer_.signature_fields(request.message, *request.content);
      } catch (const ContentReadError& e) {
        // Nothing was sent; the attempt ends as a temporary failure and is retried.
        AttemptResult later;
        later.outcome = AttemptResult::Outcome::temporary;
        later.reply = std::string("4.3.0 reading the message from the store failed: ") + e.what();
        done(std::vector<AttemptResult>(request.deliveries.size(), later));
        return;
      }
      if (!fields.empty()) {
        // The signed content shares the body: signing never copies a message.
        request.content =
            std::make_shared<const MessageContent>(request.content->with_fields_on_top(fields));
      }
      inner_.start(std::move(request), std::move(done));
    });
  }

 private:
  const DkimSigningTransport& signer_;
  const Swappable<DkimSigningTable>& keys_;
  AsyncTransport& inner_;
  asio::thread_pool& pool_;
};

// Signing is CPU work; on a small machine one thread keeps up with thousands a second.
unsigned signing_threads() {
  return std::clamp(std::thread::hardware_concurrency() / 2, 1u, 4u);
}

}  // namespace

struct Outbound::Parts {
  Parts(const Config& config, std::vector<OwnListener> own_listeners)
      : dkim_keys(std::make_shared<const DkimSigningTable>(config.dkim)),
        work(asio::make_work_guard(io)),
        resolver(io, config.dns),
        transport(io, resolver, config.outbound, config.routes,
                  {config.server.hostname, config.outbound.helo_name},
                  OwnEndpoints(std::move(own_listeners))),
        signing(signing_transport(config, dkim_keys, transport, clock)),
        signing_start(std::make_unique<SigningStart>(*signing, dkim_keys, transport, signing_pool)),
        thread([this] { io.run(); }) {}

  // First: a [[dkim]] key that cannot be loaded stops the start before anything runs.
  Swappable<DkimSigningTable> dkim_keys;
  SystemClock clock;
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work;
  UnboundResolver resolver;
  SmtpTransport transport;
  std::unique_ptr<DkimSigningTransport> signing;
  asio::thread_pool signing_pool{signing_threads()};
  std::unique_ptr<SigningStart> signing_start;
  std::thread thread;  // last: it runs `io` only once everything it serves exists
};

Outbound::Outbound(const Config& config, std::vector<OwnListener> own_listeners)
    : parts_(std::make_unique<Parts>(config, std::move(own_listeners))) {}

Outbound::~Outbound() {
  shutdown();
  // Signing still queued starts its attempts, which end at once (shut down) on `io`.
  parts_->signing_pool.join();
  parts_->work.reset();
  parts_->io.stop();
  parts_->thread.join();
}

AsyncTransport& Outbound::async_transport() {
  if (parts_->signing_start) return *parts_->signing_start;
  return parts_->transport;
}

void Outbound::shutdown() {
  parts_->transport.shutdown();
}

Swappable<DkimSigningTable>& Outbound::dkim_keys() {
  return parts_->dkim_keys;
}

}  // namespace herald
