#include "transport/smtp_transport.h"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <exception>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "smtp/client_session.h"
#include "transport/smtp_connection.h"
#include "transport/smtp_next_hops.h"
#include "util/ascii.h"
#include "util/time_text.h"

namespace herald {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Outcome = AttemptResult::Outcome;

// The domain part of a mailbox, lower case; "" when there is none.
std::string domain_of(std::string_view mailbox) {
  const size_t at = mailbox.rfind('@');
  return at == std::string_view::npos ? std::string() : ascii_lower(mailbox.substr(at + 1));
}

OutboundMessage outbound_message(const AttemptRequest& request) {
  const MessageRecord& message = request.message;
  OutboundMessage out;
  // The queue groups only deliveries with the same envelope sender (SchedulingFacts).
  const std::string& own_sender = request.deliveries.front().envelope_sender;
  out.reverse_path = own_sender.empty() ? message.envelope.mail_from : own_sender;
  for (const Delivery& d : request.deliveries) {
    out.recipients.push_back({d.mailbox, d.notify, d.original_recipient});
  }
  out.content = *request.content;
  out.body =
      message.envelope.body_type == "8BITMIME" ? BodyType::eight_bit_mime : BodyType::seven_bit;
  out.smtputf8 = message.envelope.smtputf8;
  out.ret = message.qos.ret;
  out.envid = message.qos.envid;
  return out;
}

// The unverifying client context of opportunistic TLS (RFC 7435): any certificate is
// accepted, since a sender that insisted on one would have to fall back to clear text anyway.
// Authenticated TLS to MX hosts (DANE, RFC 7672; MTA-STS, RFC 8461) is not done here.
std::shared_ptr<ssl::context> make_client_tls_context() {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);  // RFC 8996
  context->set_verify_mode(ssl::verify_none);
  return context;
}

// What one message on one connection came to. `stale`: the connection had been idle in the
// pool and turned out dead before the transaction got anywhere; the message never went and
// another connection should carry it.
struct Sent {
  std::vector<AttemptResult> results;  // one per recipient, in order
  bool stale = false;
};

// The same outcome for every recipient: what happens before a transaction decides per RCPT.
std::vector<AttemptResult> for_each_of(size_t recipients, const AttemptResult& outcome) {
  return std::vector<AttemptResult>(recipients, outcome);
}

// One attempt in progress: its deadline and what it has spent of its caps.
struct Attempt {
  std::string message_id;
  std::string destination;  // the pool's key (smtp_transport.h)
  SteadyClock::time_point deadline;
  uint32_t addresses_tried = 0;

  bool expired() const { return SteadyClock::now() >= deadline; }
};

}  // namespace

// Threading: everything below runs on `strand_`, one strand for the whole transport: the
// protocol work between two network waits is small, and one strand makes the pool, the
// connections and shutdown free of locks. Other threads enter through start() and
// shutdown(), which post to it; only `running_` is shared with them, under its mutex.
class SmtpTransport::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, Resolver& resolver, const OutboundConfig& config,
       std::vector<RouteConfig> routes, std::vector<std::string> local_names, OwnEndpoints own)
      : strand_(asio::make_strand(io)),
        config_(config),
        own_(std::move(own)),
        finder_(strand_, resolver, config_, std::move(routes), std::move(local_names)),
        tls_context_(make_client_tls_context()) {
    settings_.helo_name = config_.helo_name;
    settings_.opportunistic_tls = config_.opportunistic_tls;
  }

  void start(AttemptRequest request, AttemptDone done);
  void shutdown();
  void end_every_running_attempt();

 private:
  struct Running {
    size_t deliveries = 0;
    AttemptDone done;
  };

  asio::awaitable<std::vector<AttemptResult>> run(std::shared_ptr<const AttemptRequest> request);
  asio::awaitable<OutboundConnectionPtr> open(Attempt& attempt, const std::string& host,
                                              const asio::ip::address& address, uint16_t port,
                                              std::string& error);
  asio::awaitable<OutboundConnectionPtr> open_with(const ClientSettings& settings, Attempt& attempt,
                                                   const std::string& host,
                                                   const asio::ip::address& address, uint16_t port,
                                                   std::string& error, bool& tls_failed);
  asio::awaitable<Sent> send(OutboundConnectionPtr connection, const OutboundMessage& message,
                             const Attempt& attempt);
  asio::awaitable<void> quit(OutboundConnectionPtr connection);
  std::optional<AttemptResult> loop_check(const std::string& domain, const std::string& host,
                                          const std::vector<asio::ip::address>& addresses,
                                          uint16_t port) const;

  OutboundConnectionPtr make_connection(const ClientSettings& settings, const std::string& host,
                                        tcp::endpoint endpoint, const std::string& destination);
  void complete(uint64_t id, std::vector<AttemptResult> results);
  void close_idle();
  void finish(const OutboundConnectionPtr& connection, ClientStep::Next next);
  OutboundConnectionPtr take_idle(const std::string& destination);
  void keep_idle(const OutboundConnectionPtr& connection);
  void forget(const OutboundConnectionPtr& connection);

  OutboundStrand strand_;
  const OutboundConfig config_;
  const OwnEndpoints own_;
  NextHopFinder finder_;
  std::shared_ptr<ssl::context> tls_context_;
  ClientSettings settings_;

  std::atomic<bool> shut_down_{false};                      // read anywhere; the rest on strand_
  std::multimap<std::string, OutboundConnectionPtr> idle_;  // by destination
  std::set<OutboundConnectionPtr> busy_;                    // carrying an attempt, or saying QUIT

  std::mutex running_mutex_;             // guards what follows; taken briefly, never across I/O
  std::map<uint64_t, Running> running_;  // attempts whose done has not been called
  uint64_t next_attempt_ = 0;
};

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

// Several recipients of one message in one domain ride one transaction (RFC 5321 3.3: one
// MAIL, a RCPT each); until the transaction starts, whatever happens happens to all of them.
asio::awaitable<std::vector<AttemptResult>> SmtpTransport::Impl::run(
    std::shared_ptr<const AttemptRequest> shared) {
  const auto self = shared_from_this();
  const AttemptRequest& request = *shared;
  const size_t n = request.deliveries.size();
  if (n == 0) co_return std::vector<AttemptResult>{};
  if (shut_down_) co_return for_each_of(n, shutting_down());
  const std::string& mailbox = request.deliveries.front().mailbox;
  const std::string domain = domain_of(mailbox);
  if (domain.empty()) {
    co_return for_each_of(
        n, attempt_result(Outcome::permanent,
                          "5.1.3 recipient " + mailbox + " has no domain to deliver to"));
  }
  // RFC 3030 3: BINARYMIME needs a peer that offers it, and herald's client never sends it.
  if (request.message.envelope.body_type == "BINARYMIME") {
    co_return for_each_of(
        n,
        attempt_result(Outcome::permanent,
                       "5.6.3 binary content (BINARYMIME, RFC 3030) cannot be relayed by herald"));
  }
  const OutboundMessage outbound = outbound_message(request);
  const RouteConfig* route = finder_.route_for(domain);
  Attempt attempt{request.message.id,
                  route ? "[" + route->host + "]:" + std::to_string(route->port) : domain,
                  SteadyClock::now() + config_.attempt_timeout};

  while (const OutboundConnectionPtr idle = take_idle(attempt.destination)) {
    idle->begin_attempt(attempt.deadline);
    Sent sent = co_await send(idle, outbound, attempt);
    if (!sent.stale) co_return sent.results;
  }
  if (shut_down_) co_return for_each_of(n, shutting_down());

  const NextHops hops = co_await finder_.next_hops(domain, route, attempt.deadline);
  if (hops.failure) co_return for_each_of(n, *hops.failure);
  std::string last_error;
  bool dns_trouble = false;
  bool any_address = false;
  std::set<asio::ip::address> tried;  // an address two hosts share is tried once
  for (size_t h = 0; h < hops.hosts.size(); ++h) {
    const std::string& host = hops.hosts[h];
    const HostAddresses found = co_await finder_.addresses_of(host, attempt.deadline);
    if (shut_down_) co_return for_each_of(n, shutting_down());
    if (found.no_answer) {
      co_return for_each_of(
          n, attempt_result(Outcome::temporary, "4.4.3 attempt deadline passed (attempt_timeout " +
                                                    duration_text(config_.attempt_timeout) +
                                                    ") waiting for DNS: the address of " + host));
    }
    dns_trouble = dns_trouble || found.dns_trouble;
    if (found.addresses.empty()) {
      last_error = found.dns_trouble ? "cannot look up the address of " + host
                                     : host + " has no address (A/AAAA)";
      continue;
    }
    any_address = true;
    if (std::optional<AttemptResult> loop = loop_check(domain, host, found.addresses, hops.port)) {
      // RFC 5321 5.1: herald itself, and every less preferred host, is out of the list. As
      // the most preferred host that is a permanent error; further down, the hosts before
      // it may yet answer.
      spdlog::warn("smtp-out loop id={} domain={} host={} reply=\"{}\"", attempt.message_id, domain,
                   host, loop->reply);
      if (h == 0) co_return for_each_of(n, *loop);
      last_error += (last_error.empty() ? "" : "; ") + loop->reply.substr(4);
      break;
    }
    // RFC 5321 5.1: a host that cannot be reached, or that refuses the session in its
    // greeting or EHLO, sends the client on to the next address and the next host; once a
    // transaction runs, its replies decide.
    bool capped = false;
    for (const asio::ip::address& address : found.addresses) {
      if (!tried.insert(address).second) continue;
      if (attempt.addresses_tried >= config_.max_addresses) {
        capped = true;
        break;
      }
      ++attempt.addresses_tried;
      const OutboundConnectionPtr connection =
          co_await open(attempt, host, address, hops.port, last_error);
      if (shut_down_) co_return for_each_of(n, shutting_down());
      if (connection) co_return (co_await send(connection, outbound, attempt)).results;
      if (attempt.expired()) break;
    }
    if (capped) {
      spdlog::info("smtp-out address-limit id={} domain={} max_addresses={}", attempt.message_id,
                   domain, config_.max_addresses);
      last_error += " (max_addresses " + std::to_string(config_.max_addresses) + " tried)";
      break;
    }
    if (attempt.expired()) break;
  }
  // RFC 5321 5.1: an MX list none of whose hosts has an address cannot be delivered to.
  // A route is the operator's: a name that does not resolve there is left to be fixed.
  if (hops.from_mx && !any_address && !dns_trouble) {
    co_return for_each_of(
        n, attempt_result(Outcome::permanent,
                          "5.4.4 no mail host of " + domain + " has an address: " + last_error));
  }
  co_return for_each_of(
      n, attempt_result(Outcome::temporary,
                        "4.4.1 no mail host of " + domain + " could be reached: " + last_error));
}

// RFC 5321 5.1: mail handed to one of herald's own listeners would come straight back.
std::optional<AttemptResult> SmtpTransport::Impl::loop_check(
    const std::string& domain, const std::string& host,
    const std::vector<asio::ip::address>& addresses, uint16_t port) const {
  for (const asio::ip::address& address : addresses) {
    if (own_.contains(address.to_string(), port)) {
      const std::string ip = address.to_string();
      const std::string where = host == ip ? ip : host + " (" + ip + ")";
      return attempt_result(Outcome::permanent, "554 5.4.6 mail for " + domain +
                                                    " would loop back to herald: " + where +
                                                    " is where herald listens, on port " +
                                                    std::to_string(port) + " (RFC 5321 5.1)");
    }
  }
  return std::nullopt;
}

// Connects and reads up to the point where a message can be sent (greeting, EHLO, STARTTLS).
// nullptr when that fails, with `error` saying why. Opportunistic TLS (RFC 7435 5: "fall back
// to cleartext") is what it says: when the handshake fails, the same host is tried once more
// without STARTTLS, as Postfix does at its "may" level, rather than never delivering to a
// server whose TLS is broken. The second connection counts as the same address tried.
asio::awaitable<OutboundConnectionPtr> SmtpTransport::Impl::open(Attempt& attempt,
                                                                 const std::string& host,
                                                                 const asio::ip::address& address,
                                                                 uint16_t port,
                                                                 std::string& error) {
  bool tls_failed = false;
  OutboundConnectionPtr connection =
      co_await open_with(settings_, attempt, host, address, port, error, tls_failed);
  if (connection || !tls_failed || shut_down_ || attempt.expired()) co_return connection;
  ClientSettings cleartext = settings_;
  cleartext.opportunistic_tls = false;
  spdlog::info("smtp-out tls-fallback id={} host={} reason=\"{}\"", attempt.message_id, host,
               error);
  co_return co_await open_with(cleartext, attempt, host, address, port, error, tls_failed);
}

asio::awaitable<OutboundConnectionPtr> SmtpTransport::Impl::open_with(
    const ClientSettings& settings, Attempt& attempt, const std::string& host,
    const asio::ip::address& address, uint16_t port, std::string& error, bool& tls_failed) {
  const OutboundConnectionPtr connection =
      make_connection(settings, host, tcp::endpoint(address, port), attempt.destination);
  connection->begin_attempt(attempt.deadline);
  if (std::string failure = co_await connection->connect(); !failure.empty()) {
    error = "connect: " + failure;
    spdlog::info("smtp-out connect-failed id={} remote={} reason=\"{}\"", attempt.message_id,
                 connection->remote(), error);
    finish(connection, ClientStep::Next::close);
    co_return nullptr;
  }
  spdlog::info("smtp-out connect id={} remote={}", attempt.message_id, connection->remote());
  ClientStep greeting;  // the first step reads the server's greeting
  const ClientStep::Next next = co_await connection->drive(std::move(greeting));
  if (next != ClientStep::Next::ready) {
    tls_failed = connection->failed_in_tls_handshake();
    const std::string& failure = connection->session().failure();
    // A deadline's reason names the remote already.
    error =
        connection->stopped() == SmtpStop::none ? connection->remote() + ": " + failure : failure;
    spdlog::info("smtp-out session-refused id={} remote={} reason=\"{}\"", attempt.message_id,
                 connection->remote(), failure);
    finish(connection, next);
    co_return nullptr;
  }
  co_return connection;
}

// One message on a ready connection; afterwards the connection is kept for the next
// message, or closed.
asio::awaitable<Sent> SmtpTransport::Impl::send(OutboundConnectionPtr connection,
                                                const OutboundMessage& message,
                                                const Attempt& attempt) {
  const bool reused = connection->messages() > 0;
  connection->begin_message();
  ClientStep first = connection->session().send(message);
  const ClientStep::Next next = co_await connection->drive(std::move(first));
  Sent sent{connection->session().outcomes()};
  const AttemptResult& first_outcome = sent.results.front();
  // A reused connection that the server closed while it sat idle shows it only now: the
  // first read finds it gone, or the server's 421 (RFC 5321 3.8) is the first reply. Nothing
  // of the message was taken then (its content waits for the replies to MAIL and RCPT), so
  // a fresh connection carries it and the delivery loses no attempt.
  sent.stale = reused && next == ClientStep::Next::close &&
               first_outcome.outcome == Outcome::temporary &&
               connection->stopped() == SmtpStop::none &&
               (connection->read_since_message() == 0 || first_outcome.reply.starts_with("421"));
  if (sent.stale) {
    spdlog::info("smtp-out stale-connection id={} remote={} reason=\"{}\"", attempt.message_id,
                 connection->remote(), first_outcome.reply);
    finish(connection, next);
    co_return sent;
  }
  const std::string tls = connection->tls() ? connection->tls_version() : "no";
  for (size_t i = 0; i < sent.results.size(); ++i) {
    AttemptResult& outcome = sent.results[i];
    if (connection->stopped() == SmtpStop::shutdown && outcome.outcome == Outcome::temporary) {
      outcome.reply = shutting_down().reply;
    }
    outcome.fields = {
        {"remote", connection->remote()},
        {"tls", tls},
        {"remote_mta", connection->host()},
        // RFC 3461 5.2: a peer that offers DSN took the sender's NOTIFY with the message.
        {"peer_dsn", connection->session().extensions().dsn ? "yes" : "no"},
    };
    const char* verdict = outcome.outcome == Outcome::delivered   ? "delivered"
                          : outcome.outcome == Outcome::temporary ? "deferred"
                                                                  : "bounced";
    spdlog::info("smtp-out {} id={} rcpt=<{}> remote={} tls={} reply=\"{}\"", verdict,
                 attempt.message_id, message.recipients[i].address, connection->remote(), tls,
                 outcome.reply);
  }
  finish(connection, next);
  co_return sent;
}

// RFC 5321 4.1.1.10: QUIT, then the reply, then the close; bounded by the command timeout.
asio::awaitable<void> SmtpTransport::Impl::quit(OutboundConnectionPtr connection) {
  busy_.insert(connection);
  connection->begin_attempt(SteadyClock::time_point::max());
  ClientStep first = connection->session().quit();
  co_await connection->drive(std::move(first));
  busy_.erase(connection);
}

OutboundConnectionPtr SmtpTransport::Impl::make_connection(const ClientSettings& settings,
                                                           const std::string& host,
                                                           tcp::endpoint endpoint,
                                                           const std::string& destination) {
  auto connection = std::make_shared<OutboundConnection>(strand_, tls_context_, settings, config_,
                                                         host, std::move(endpoint), destination);
  if (shut_down_) connection->cancel();  // shutdown() came after the attempt began
  busy_.insert(connection);
  // Past its idle time, a pooled connection leaves the pool and says QUIT.
  connection->start_timer([weak = weak_from_this()](OutboundConnectionPtr expired) {
    const std::shared_ptr<Impl> self = weak.lock();
    if (!self) return;
    self->forget(expired);
    asio::co_spawn(self->strand_, self->quit(expired), asio::detached);
  });
  return connection;
}

// After a message or a failed opening: a ready connection goes to the pool while it may
// carry more, otherwise it says QUIT; a closed one is dropped.
void SmtpTransport::Impl::finish(const OutboundConnectionPtr& connection, ClientStep::Next next) {
  busy_.erase(connection);
  if (next != ClientStep::Next::ready) {
    connection->close();
  } else if (connection->messages() < config_.max_messages_per_connection && !shut_down_) {
    keep_idle(connection);
  } else {
    asio::co_spawn(strand_, quit(connection), asio::detached);
  }
}

// On strand_: every idle connection says QUIT and closes.
void SmtpTransport::Impl::close_idle() {
  for (auto& [destination, connection] : idle_) {
    connection->end_idle();
    asio::co_spawn(strand_, quit(connection), asio::detached);
  }
  idle_.clear();
}

OutboundConnectionPtr SmtpTransport::Impl::take_idle(const std::string& destination) {
  const auto found = idle_.find(destination);
  if (found == idle_.end()) return nullptr;
  OutboundConnectionPtr connection = found->second;
  idle_.erase(found);
  connection->end_idle();
  busy_.insert(connection);
  return connection;
}

void SmtpTransport::Impl::keep_idle(const OutboundConnectionPtr& connection) {
  connection->become_idle();
  idle_.emplace(connection->destination(), connection);
}

void SmtpTransport::Impl::forget(const OutboundConnectionPtr& connection) {
  const auto [first, last] = idle_.equal_range(connection->destination());
  for (auto it = first; it != last; ++it) {
    if (it->second == connection) {
      idle_.erase(it);
      return;
    }
  }
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

AttemptResult SmtpTransport::attempt(const MessageRecord& message, const Delivery& delivery,
                                     std::string_view content) {
  return attempt_together(message, {delivery}, content).front();
}

// The content is copied into the request: start() may outlive this call only in the
// destructor's case, and then must not read a caller's buffer that is gone.
std::vector<AttemptResult> SmtpTransport::attempt_together(const MessageRecord& message,
                                                           const std::vector<Delivery>& deliveries,
                                                           std::string_view content) {
  std::promise<std::vector<AttemptResult>> promise;
  std::future<std::vector<AttemptResult>> future = promise.get_future();
  start(AttemptRequest{message, deliveries, std::make_shared<const std::string>(content)},
        [&promise](std::vector<AttemptResult> results) { promise.set_value(std::move(results)); });
  return future.get();
}

void SmtpTransport::shutdown() {
  impl_->shutdown();
}

}  // namespace herald
