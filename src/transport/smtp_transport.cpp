#include "transport/smtp_transport.h"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <exception>
#include <utility>

#include "transport/smtp_transport_impl.h"

namespace herald {

using namespace smtp_out;
namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace {

using Outcome = AttemptResult::Outcome;

// The unverifying client context of opportunistic TLS (RFC 7435): any certificate is
// accepted, since a sender that insisted on one would have to fall back to clear text anyway.
// Authenticated TLS to MX hosts (DANE, RFC 7672; MTA-STS, RFC 8461) is not done here.
std::shared_ptr<ssl::context> make_client_tls_context() {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);  // RFC 8996
  context->set_verify_mode(ssl::verify_none);
  return context;
}

}  // namespace

SmtpTransport::Impl::Impl(asio::io_context& io, Resolver& resolver, const OutboundConfig& config,
                          std::vector<RouteConfig> routes, std::vector<std::string> local_names,
                          OwnEndpoints own)
    : strand_(asio::make_strand(io)),
      config_(config),
      own_(std::move(own)),
      finder_(strand_, resolver, config_, std::move(routes), std::move(local_names)),
      tls_context_(make_client_tls_context()) {
  settings_.helo_name = config_.helo_name;
  settings_.opportunistic_tls = config_.opportunistic_tls;
}

void SmtpTransport::Impl::start(AttemptRequest request, AttemptDone done) {
  const size_t n = request.deliveries.size();
  uint64_t id = 0;
  {
    const std::lock_guard lock(running_mutex_);
    id = next_attempt_++;
    running_.emplace(id, Running{n, std::move(done)});
  }
  std::string message_id = request.message.id;
  asio::co_spawn(strand_, run(std::make_shared<const AttemptRequest>(std::move(request))),
                 [self = shared_from_this(), id, n, message_id = std::move(message_id)](
                     std::exception_ptr error, std::vector<AttemptResult> results) {
                   if (error) {
                     // A bug, not the remote side: the deliveries stay queued and the log
                     // says what happened.
                     std::string what = "unknown exception";
                     try {
                       std::rethrow_exception(error);
                     } catch (const std::exception& e) {
                       what = e.what();
                     } catch (...) {
                     }
                     spdlog::error("smtp-out internal error id={}: {}", message_id, what);
                     results = for_each_of(
                         n, attempt_result(Outcome::temporary, "4.3.0 internal error: " + what));
                   }
                   self->complete(id, std::move(results));
                 });
}

// Exactly once per start(): whichever of the attempt's end and the transport's destruction
// comes first takes the entry.
void SmtpTransport::Impl::complete(uint64_t id, std::vector<AttemptResult> results) {
  AttemptDone done;
  {
    const std::lock_guard lock(running_mutex_);
    const auto found = running_.find(id);
    if (found == running_.end()) return;
    done = std::move(found->second.done);
    running_.erase(found);
  }
  done(std::move(results));
}

void SmtpTransport::Impl::end_every_running_attempt() {
  std::map<uint64_t, Running> left;
  {
    const std::lock_guard lock(running_mutex_);
    left.swap(running_);
  }
  for (auto& [id, running] : left) running.done(for_each_of(running.deliveries, shutting_down()));
}

void SmtpTransport::Impl::shutdown() {
  shut_down_ = true;
  asio::post(strand_, [self = shared_from_this()] {
    self->finder_.shutdown();
    for (const OutboundConnectionPtr& connection : self->busy_) connection->cancel();
    self->close_idle();
  });
}

SmtpTransport::SmtpTransport(asio::io_context& io, Resolver& resolver, const OutboundConfig& config,
                             std::vector<RouteConfig> routes, std::vector<std::string> local_names,
                             OwnEndpoints own)
    : impl_(std::make_shared<Impl>(io, resolver, config, std::move(routes), std::move(local_names),
                                   std::move(own))) {}

SmtpTransport::~SmtpTransport() {
  impl_->shutdown();
  impl_->end_every_running_attempt();
}

void SmtpTransport::start(AttemptRequest request, AttemptDone done) {
  impl_->start(std::move(request), std::move(done));
}

void SmtpTransport::shutdown() {
  impl_->shutdown();
}

}  // namespace herald
