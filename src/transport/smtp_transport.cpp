#include "transport/smtp_transport.h"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <chrono>
#include <exception>
#include <future>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <utility>

#include "smtp/client_session.h"
#include "smtp/mx_selection.h"
#include "util/ascii.h"

namespace herald {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Strand = asio::strand<asio::io_context::executor_type>;
using SteadyClock = std::chrono::steady_clock;
using Outcome = AttemptResult::Outcome;

// RFC 5321 4.5.4.2: the port a server listens on for SMTP.
constexpr uint16_t kSmtpPort = 25;
constexpr size_t kReadSize = 16 * 1024;

AttemptResult result(Outcome outcome, std::string reply) {
  AttemptResult r;
  r.outcome = outcome;
  r.reply = std::move(reply);
  return r;
}

AttemptResult shutting_down() {
  return result(Outcome::temporary, "4.4.2 herald is shutting down");
}

// The domain part of a mailbox, lower case; "" when there is none.
std::string domain_of(std::string_view mailbox) {
  const size_t at = mailbox.rfind('@');
  return at == std::string_view::npos ? std::string() : ascii_lower(mailbox.substr(at + 1));
}

// RFC 5321 4.1.3 and 5.1: a domain written as an address literal ("[192.0.2.1]",
// "[IPv6:2001:db8::1]") names the host itself; no DNS is asked.
std::optional<std::string> address_literal(std::string_view domain) {
  if (domain.size() < 3 || domain.front() != '[' || domain.back() != ']') return std::nullopt;
  std::string_view inside = domain.substr(1, domain.size() - 2);
  if (ascii_lower(inside.substr(0, 5)) == "ipv6:") inside.remove_prefix(5);
  return std::string(inside);
}

OutboundMessage outbound_message(const MessageRecord& message,
                                 const std::vector<Delivery>& deliveries,
                                 std::string_view content) {
  OutboundMessage out;
  // The queue groups only deliveries with the same envelope sender (SchedulingFacts).
  const std::string& own_sender = deliveries.front().envelope_sender;
  out.reverse_path = own_sender.empty() ? message.envelope.mail_from : own_sender;
  for (const Delivery& d : deliveries) {
    out.recipients.push_back({d.mailbox, d.notify, d.original_recipient});
  }
  out.content = content;
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

// One connection to a remote server: TCP, TLS once STARTTLS succeeded, and the ClientSession
// that speaks SMTP over it. Every member is used on the transport's strand only, and by one
// attempt at a time (an idle connection belongs to the pool).
struct Connection {
  Connection(const Strand& strand, std::shared_ptr<ssl::context> tls_context,
             const ClientSettings& settings, std::string host, tcp::endpoint endpoint,
             std::string destination)
      : tls_context(std::move(tls_context)),
        stream(strand, *this->tls_context),
        deadline(strand, SteadyClock::time_point::max()),
        session(settings),
        host(std::move(host)),
        endpoint(std::move(endpoint)),
        destination(std::move(destination)) {}

  // "mx.example[192.0.2.1]:25", the ledger's remote= and the logs' peer.
  std::string remote() const {
    const std::string ip = endpoint.address().to_string();
    return host + "[" + ip + "]:" + std::to_string(endpoint.port());
  }

  tcp::socket& socket() { return stream.next_layer(); }

  // Every operation starts here: once the watchdog or shutdown() cancelled the connection,
  // nothing more may start on it (they can strike between two operations).
  void throw_if_stopped() const {
    if (timed_out) throw boost::system::system_error(asio::error::timed_out);
    if (cancelled) throw boost::system::system_error(asio::error::operation_aborted);
  }

  void arm(std::chrono::seconds timeout) { deadline.expires_after(timeout); }

  void close() {
    closed = true;
    deadline.cancel();
    boost::system::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }

  // Why an operation failed, for the ledger.
  std::string why(const boost::system::system_error& error) const {
    if (timed_out) return "timeout waiting for " + remote();
    if (cancelled) return "herald is shutting down";
    return (in_handshake ? "TLS handshake failed: " : "") + error.code().message() + " (" +
           remote() + ")";
  }

  std::shared_ptr<ssl::context> tls_context;  // outlives the stream that uses it
  ssl::stream<tcp::socket> stream;
  bool tls = false;
  std::string tls_version;  // "TLSv1.3"; empty in clear text
  asio::steady_timer deadline;
  ClientSession session;
  const std::string host;  // the name that led here: MX host, route host, or address
  const tcp::endpoint endpoint;
  const std::string destination;  // the pool key

  std::array<char, kReadSize> input;
  size_t read_since_send = 0;  // octets of replies read since the last send()
  uint32_t messages = 0;       // messages sent on it so far
  bool idle = false;           // in the pool; the deadline is then the end of its idle time
  bool in_handshake = false;
  bool timed_out = false;
  bool cancelled = false;
  bool closed = false;
};

using ConnectionPtr = std::shared_ptr<Connection>;

// Where the mail for a domain goes: hosts in order of preference and the port they listen
// on, or the reason why it goes nowhere.
struct NextHops {
  std::vector<std::string> hosts;  // names or numeric addresses
  uint16_t port = kSmtpPort;
  bool from_mx = false;  // the hosts came from MX records (or the implicit MX)
  std::optional<AttemptResult> failure;
};

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

}  // namespace

// Threading: everything below runs on `strand_`, one strand for the whole transport: the
// protocol work between two network waits is small, and one strand makes the pool, the
// connections and shutdown free of locks. Worker threads enter through attempt() and
// shutdown(), which post to it.
class SmtpTransport::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, Resolver& resolver, const OutboundConfig& config,
       std::vector<RouteConfig> routes, std::vector<std::string> local_names)
      : strand_(asio::make_strand(io)),
        resolver_(resolver),
        config_(config),
        routes_(std::move(routes)),
        local_names_(std::move(local_names)),
        tls_context_(make_client_tls_context()) {
    settings_.helo_name = config_.helo_name;
    settings_.opportunistic_tls = config_.opportunistic_tls;
  }

  std::vector<AttemptResult> attempt(const MessageRecord& message,
                                     const std::vector<Delivery>& deliveries,
                                     std::string_view content);
  void shutdown();

 private:
  asio::awaitable<std::vector<AttemptResult>> run(const MessageRecord& message,
                                                  const std::vector<Delivery>& deliveries,
                                                  std::string_view content);
  asio::awaitable<NextHops> next_hops(const std::string& domain, const RouteConfig* route);
  asio::awaitable<std::vector<asio::ip::address>> addresses_of(const std::string& host,
                                                               bool& dns_trouble);
  template <class Record>
  asio::awaitable<std::optional<DnsAnswer<Record>>> lookup(
      void (Resolver::*query)(std::string, Resolver::Done<Record>), std::string name);

  asio::awaitable<ConnectionPtr> open(const std::string& host, const asio::ip::address& address,
                                      uint16_t port, const std::string& destination,
                                      const std::string& message_id, std::string& error);
  asio::awaitable<ConnectionPtr> open_with(const ClientSettings& settings, const std::string& host,
                                           const asio::ip::address& address, uint16_t port,
                                           const std::string& destination,
                                           const std::string& message_id, std::string& error,
                                           bool& tls_failed);
  asio::awaitable<Sent> send(ConnectionPtr connection, const OutboundMessage& message,
                             const std::string& message_id);
  asio::awaitable<ClientStep::Next> drive(Connection& connection, ClientStep step);
  asio::awaitable<size_t> read(Connection& connection, std::chrono::seconds timeout);
  asio::awaitable<void> write(Connection& connection, const std::string& data,
                              std::chrono::seconds timeout);
  asio::awaitable<void> handshake(Connection& connection);
  asio::awaitable<void> quit(ConnectionPtr connection);
  asio::awaitable<void> watch(ConnectionPtr connection);

  ConnectionPtr start(ConnectionPtr connection);
  void close_idle();
  void finish(const ConnectionPtr& connection, ClientStep::Next next);
  ConnectionPtr take_idle(const std::string& destination);
  void keep_idle(const ConnectionPtr& connection);
  void forget(const ConnectionPtr& connection);
  const RouteConfig* route_for(const std::string& domain) const;

  Strand strand_;
  Resolver& resolver_;
  const OutboundConfig config_;
  const std::vector<RouteConfig> routes_;
  const std::vector<std::string> local_names_;
  std::shared_ptr<ssl::context> tls_context_;
  ClientSettings settings_;

  std::atomic<bool> shut_down_{false};               // read anywhere; the rest only on strand_
  std::multimap<std::string, ConnectionPtr> idle_;   // by destination
  std::set<ConnectionPtr> busy_;                     // carrying an attempt, or saying QUIT
  std::set<asio::steady_timer*> dns_waits_;          // attempts waiting for the resolver
  std::minstd_rand random_{std::random_device{}()};  // spreads load over equal MX hosts
};

std::vector<AttemptResult> SmtpTransport::Impl::attempt(const MessageRecord& message,
                                                        const std::vector<Delivery>& deliveries,
                                                        std::string_view content) {
  const size_t n = deliveries.size();
  if (shut_down_) return for_each_of(n, shutting_down());
  // The promise belongs to the completion handler: if the io_context is destroyed with the
  // attempt unfinished, the handler goes with it and get() throws instead of waiting forever.
  std::promise<std::vector<AttemptResult>> promise;
  std::future<std::vector<AttemptResult>> future = promise.get_future();
  asio::co_spawn(strand_, run(message, deliveries, content),
                 [promise = std::move(promise)](std::exception_ptr error,
                                                std::vector<AttemptResult> outcomes) mutable {
                   if (error) {
                     promise.set_exception(error);
                   } else {
                     promise.set_value(std::move(outcomes));
                   }
                 });
  try {
    return future.get();
  } catch (const std::future_error&) {
    return for_each_of(n, shutting_down());
  } catch (const std::exception& e) {
    // A bug, not the remote side: the delivery stays queued and the log says what happened.
    spdlog::error("smtp-out internal error id={} rcpt=<{}>: {}", message.id,
                  deliveries.front().mailbox, e.what());
    return for_each_of(
        n, result(Outcome::temporary, std::string("4.3.0 internal error: ") + e.what()));
  }
}

void SmtpTransport::Impl::shutdown() {
  shut_down_ = true;
  asio::post(strand_, [self = shared_from_this()] {
    for (asio::steady_timer* wait : self->dns_waits_) wait->cancel();
    for (const ConnectionPtr& connection : self->busy_) {
      connection->cancelled = true;
      boost::system::error_code ignored;
      connection->socket().cancel(ignored);
    }
    self->close_idle();
  });
}

// On strand_: every idle connection says QUIT and closes.
void SmtpTransport::Impl::close_idle() {
  for (auto& [destination, connection] : idle_) {
    connection->idle = false;
    asio::co_spawn(strand_, quit(connection), asio::detached);
  }
  idle_.clear();
}

// Several recipients of one message in one domain ride one transaction (RFC 5321 3.3: one
// MAIL, a RCPT each); until the transaction starts, whatever happens happens to all of them.
asio::awaitable<std::vector<AttemptResult>> SmtpTransport::Impl::run(
    const MessageRecord& message, const std::vector<Delivery>& deliveries,
    std::string_view content) {
  const auto self = shared_from_this();
  const size_t n = deliveries.size();
  const std::string domain = domain_of(deliveries.front().mailbox);
  if (domain.empty()) {
    co_return for_each_of(
        n, result(Outcome::permanent, "5.1.3 recipient " + deliveries.front().mailbox +
                                          " has no domain to deliver to"));
  }
  // RFC 3030 3: BINARYMIME needs a peer that offers it, and herald's client never sends it.
  if (message.envelope.body_type == "BINARYMIME") {
    co_return for_each_of(
        n, result(Outcome::permanent,
                  "5.6.3 binary content (BINARYMIME, RFC 3030) cannot be relayed by herald"));
  }
  const OutboundMessage outbound = outbound_message(message, deliveries, content);
  const RouteConfig* route = route_for(domain);
  // The pool's key (smtp_transport.h): the route's next hop, or the recipient domain.
  const std::string destination =
      route ? "[" + route->host + "]:" + std::to_string(route->port) : domain;

  while (const ConnectionPtr idle = take_idle(destination)) {
    Sent sent = co_await send(idle, outbound, message.id);
    if (!sent.stale) co_return sent.results;
  }
  if (shut_down_) co_return for_each_of(n, shutting_down());

  const NextHops hops = co_await next_hops(domain, route);
  if (hops.failure) co_return for_each_of(n, *hops.failure);
  std::string last_error;
  bool dns_trouble = false;
  bool any_address = false;
  for (const std::string& host : hops.hosts) {
    const std::vector<asio::ip::address> addresses = co_await addresses_of(host, dns_trouble);
    if (shut_down_) co_return for_each_of(n, shutting_down());
    if (addresses.empty()) {
      last_error =
          dns_trouble ? "cannot look up the address of " + host : host + " has no address (A/AAAA)";
      continue;
    }
    any_address = true;
    // RFC 5321 5.1: a host that cannot be reached, or that refuses the session in its
    // greeting or EHLO, sends the client on to the next address and the next host; once a
    // transaction runs, its replies decide.
    for (const asio::ip::address& address : addresses) {
      const ConnectionPtr connection =
          co_await open(host, address, hops.port, destination, message.id, last_error);
      if (shut_down_) co_return for_each_of(n, shutting_down());
      if (connection) co_return (co_await send(connection, outbound, message.id)).results;
    }
  }
  // RFC 5321 5.1: an MX list none of whose hosts has an address cannot be delivered to.
  // A route is the operator's: a name that does not resolve there is left to be fixed.
  if (hops.from_mx && !any_address && !dns_trouble) {
    co_return for_each_of(n, result(Outcome::permanent, "5.4.4 no mail host of " + domain +
                                                            " has an address: " + last_error));
  }
  co_return for_each_of(n, result(Outcome::temporary, "4.4.1 no mail host of " + domain +
                                                          " could be reached: " + last_error));
}

const RouteConfig* SmtpTransport::Impl::route_for(const std::string& domain) const {
  const auto route = std::find_if(routes_.begin(), routes_.end(),
                                  [&](const RouteConfig& r) { return r.domain == domain; });
  return route == routes_.end() ? nullptr : &*route;
}

// RFC 5321 5.1: a route, an address literal, or the domain's MX hosts.
asio::awaitable<NextHops> SmtpTransport::Impl::next_hops(const std::string& domain,
                                                         const RouteConfig* route) {
  NextHops hops;
  hops.port = config_.mx_port;
  if (route) {
    hops.hosts.push_back(route->host);
    hops.port = route->port;
    co_return hops;
  }
  if (std::optional<std::string> literal = address_literal(domain)) {
    hops.hosts.push_back(std::move(*literal));
    co_return hops;
  }
  const std::optional<DnsAnswer<MxRecord>> mx = co_await lookup(&Resolver::lookup_mx, domain);
  if (!mx) {
    hops.failure = shutting_down();
  } else if (mx->status == DnsStatus::nxdomain) {
    hops.failure =
        result(Outcome::permanent, "5.1.2 domain " + domain + " does not exist (DNS NXDOMAIN)");
  } else if (is_temporary(mx->status)) {
    hops.failure = result(Outcome::temporary, "4.4.3 MX lookup for " + domain + " failed (" +
                                                  std::string(to_string(mx->status)) + ")");
  } else {
    const MxPlan plan = plan_mx(domain, mx->records, local_names_, [this](size_t bound) {
      return std::uniform_int_distribution<size_t>(0, bound - 1)(random_);
    });
    if (plan.null_mx || plan.hosts.empty()) {
      hops.failure = result(Outcome::permanent, plan.reason);
    }
    for (const MxHost& host : plan.hosts) hops.hosts.push_back(host.name);
    hops.from_mx = true;
  }
  co_return hops;
}

// A host's addresses, IPv4 first: much of the receiving world still judges IPv6 senders
// more harshly (reverse DNS, reputation), and a host without IPv6 fails fast on it anyway.
// A numeric host is its own address. `dns_trouble` is set when a lookup failed for now.
asio::awaitable<std::vector<asio::ip::address>> SmtpTransport::Impl::addresses_of(
    const std::string& host, bool& dns_trouble) {
  std::vector<asio::ip::address> addresses;
  boost::system::error_code not_numeric;
  const asio::ip::address numeric = asio::ip::make_address(host, not_numeric);
  if (!not_numeric) {
    addresses.push_back(numeric);
    co_return addresses;
  }
  for (const auto query : {&Resolver::lookup_a, &Resolver::lookup_aaaa}) {
    const std::optional<DnsAnswer<std::string>> answer = co_await lookup(query, host);
    if (!answer) break;  // shutdown
    if (is_temporary(answer->status)) dns_trouble = true;
    for (const std::string& text : answer->records) {
      boost::system::error_code malformed;
      const asio::ip::address address = asio::ip::make_address(text, malformed);
      if (!malformed) addresses.push_back(address);
    }
  }
  co_return addresses;
}

// dns_lookup() (dns/awaitable.h) cannot be abandoned; this waits for the answer or for
// shutdown(), whichever comes first (nullopt: shutdown).
template <class Record>
asio::awaitable<std::optional<DnsAnswer<Record>>> SmtpTransport::Impl::lookup(
    void (Resolver::*query)(std::string, Resolver::Done<Record>), std::string name) {
  struct Pending {
    explicit Pending(const Strand& strand) : wake(strand, SteadyClock::time_point::max()) {}
    asio::steady_timer wake;
    std::optional<DnsAnswer<Record>> answer;
  };
  if (shut_down_) co_return std::nullopt;
  const auto pending = std::make_shared<Pending>(strand_);
  // The answer may come on any thread, even inside this call; it is handed over on strand_.
  (resolver_.*query)(std::move(name), [pending, strand = strand_](DnsAnswer<Record> answer) {
    asio::post(strand, [pending, answer = std::move(answer)]() mutable {
      pending->answer = std::move(answer);
      pending->wake.cancel();
    });
  });
  dns_waits_.insert(&pending->wake);
  boost::system::error_code ignored;
  if (!pending->answer) {
    co_await pending->wake.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  dns_waits_.erase(&pending->wake);
  co_return std::move(pending->answer);
}

// Connects and reads up to the point where a message can be sent (greeting, EHLO, STARTTLS).
// nullptr when that fails, with `error` saying why. Opportunistic TLS (RFC 7435 5: "fall back
// to cleartext") is what it says: when the handshake fails, the same host is tried once more
// without STARTTLS, as Postfix does at its "may" level, rather than never delivering to a
// server whose TLS is broken.
asio::awaitable<ConnectionPtr> SmtpTransport::Impl::open(
    const std::string& host, const asio::ip::address& address, uint16_t port,
    const std::string& destination, const std::string& message_id, std::string& error) {
  bool tls_failed = false;
  ConnectionPtr connection = co_await open_with(settings_, host, address, port, destination,
                                                message_id, error, tls_failed);
  if (connection || !tls_failed || shut_down_) co_return connection;
  ClientSettings cleartext = settings_;
  cleartext.opportunistic_tls = false;
  spdlog::info("smtp-out tls-fallback id={} host={} reason=\"{}\"", message_id, host, error);
  co_return co_await open_with(cleartext, host, address, port, destination, message_id, error,
                               tls_failed);
}

asio::awaitable<ConnectionPtr> SmtpTransport::Impl::open_with(
    const ClientSettings& settings, const std::string& host, const asio::ip::address& address,
    uint16_t port, const std::string& destination, const std::string& message_id,
    std::string& error, bool& tls_failed) {
  const ConnectionPtr connection = start(std::make_shared<Connection>(
      strand_, tls_context_, settings, host, tcp::endpoint(address, port), destination));
  try {
    connection->throw_if_stopped();
    connection->arm(config_.connect_timeout);
    co_await connection->socket().async_connect(connection->endpoint, asio::use_awaitable);
  } catch (const boost::system::system_error& e) {
    error = "connect: " + connection->why(e);
    spdlog::info("smtp-out connect-failed id={} remote={} reason=\"{}\"", message_id,
                 connection->remote(), error);
    finish(connection, ClientStep::Next::close);
    co_return nullptr;
  }
  spdlog::info("smtp-out connect id={} remote={}", message_id, connection->remote());
  ClientStep greeting;  // the first step reads the server's greeting
  const ClientStep::Next next = co_await drive(*connection, std::move(greeting));
  if (next != ClientStep::Next::ready) {
    tls_failed = connection->in_handshake;
    error = connection->remote() + ": " + connection->session.failure();
    spdlog::info("smtp-out session-refused id={} remote={} reason=\"{}\"", message_id,
                 connection->remote(), connection->session.failure());
    finish(connection, next);
    co_return nullptr;
  }
  co_return connection;
}

// One message on a ready connection; afterwards the connection is kept for the next
// message, or closed.
asio::awaitable<Sent> SmtpTransport::Impl::send(ConnectionPtr connection,
                                                const OutboundMessage& message,
                                                const std::string& message_id) {
  const bool reused = connection->messages > 0;
  connection->read_since_send = 0;
  ++connection->messages;
  ClientStep first = connection->session.send(message);
  const ClientStep::Next next = co_await drive(*connection, std::move(first));
  Sent sent{connection->session.outcomes()};
  const AttemptResult& first_outcome = sent.results.front();
  // A reused connection that the server closed while it sat idle shows it only now: the
  // first read finds it gone, or the server's 421 (RFC 5321 3.8) is the first reply. Nothing
  // of the message was taken then (its content waits for the replies to MAIL and RCPT), so
  // a fresh connection carries it and the delivery loses no attempt.
  sent.stale = reused && next == ClientStep::Next::close &&
               first_outcome.outcome == Outcome::temporary && !connection->cancelled &&
               (connection->read_since_send == 0 || first_outcome.reply.starts_with("421"));
  if (sent.stale) {
    spdlog::info("smtp-out stale-connection id={} remote={} reason=\"{}\"", message_id,
                 connection->remote(), first_outcome.reply);
    finish(connection, next);
    co_return sent;
  }
  for (size_t i = 0; i < sent.results.size(); ++i) {
    AttemptResult& outcome = sent.results[i];
    if (connection->cancelled && outcome.outcome == Outcome::temporary) {
      outcome.reply = shutting_down().reply;
    }
    outcome.fields = {
        {"remote", connection->remote()},
        {"tls", connection->tls ? connection->tls_version : "no"},
        {"remote_mta", connection->host},
        // RFC 3461 5.2: a peer that offers DSN took the sender's NOTIFY with the message.
        {"peer_dsn", connection->session.extensions().dsn ? "yes" : "no"},
    };
    const char* verdict = outcome.outcome == Outcome::delivered   ? "delivered"
                          : outcome.outcome == Outcome::temporary ? "deferred"
                                                                  : "bounced";
    spdlog::info("smtp-out {} id={} rcpt=<{}> remote={} tls={} reply=\"{}\"", verdict, message_id,
                 message.recipients[i].address, connection->remote(),
                 connection->tls ? connection->tls_version : "no", outcome.reply);
  }
  finish(connection, next);
  co_return sent;
}

// Carries out `step` and what follows from it, until the session is ready for a message or
// the connection has closed. I/O failures and timeouts end the session (ClientSession then
// makes every open recipient a temporary failure). Callers pass `step` as a named object
// (std::move): with GCC 12.2, a prvalue bound to this by-value coroutine parameter came out
// corrupted (free(): invalid pointer on its first reassignment).
asio::awaitable<ClientStep::Next> SmtpTransport::Impl::drive(Connection& connection,
                                                             ClientStep step) {
  for (;;) {
    try {
      // RFC 5321 4.5.3.2: up to 10 minutes for the reply to the content, 5 for the others.
      const std::chrono::seconds timeout =
          connection.session.in_content() ? config_.data_timeout : config_.command_timeout;
      if (!step.output.empty()) co_await write(connection, step.output, timeout);
      if (step.next == ClientStep::Next::ready || step.next == ClientStep::Next::close) break;
      if (step.next == ClientStep::Next::start_tls) {
        co_await handshake(connection);
        step = connection.session.on_tls_started();
      } else {
        const size_t received = co_await read(connection, timeout);
        step = connection.session.on_received(std::string_view(connection.input.data(), received));
      }
    } catch (const boost::system::system_error& e) {
      step = connection.session.on_connection_lost(connection.why(e));
    }
  }
  if (step.next == ClientStep::Next::close) connection.close();
  co_return step.next;
}

// Reads what the server sent into connection.input; returns how many octets.
asio::awaitable<size_t> SmtpTransport::Impl::read(Connection& connection,
                                                  std::chrono::seconds timeout) {
  connection.throw_if_stopped();
  connection.arm(timeout);
  const asio::mutable_buffer buffer = asio::buffer(connection.input);
  size_t received = 0;
  if (connection.tls) {
    received = co_await connection.stream.async_read_some(buffer, asio::use_awaitable);
  } else {
    received = co_await connection.socket().async_read_some(buffer, asio::use_awaitable);
  }
  connection.read_since_send += received;
  co_return received;
}

asio::awaitable<void> SmtpTransport::Impl::write(Connection& connection, const std::string& data,
                                                 std::chrono::seconds timeout) {
  connection.throw_if_stopped();
  connection.arm(timeout);
  if (connection.tls) {
    co_await asio::async_write(connection.stream, asio::buffer(data), asio::use_awaitable);
  } else {
    co_await asio::async_write(connection.socket(), asio::buffer(data), asio::use_awaitable);
  }
}

// RFC 3207 4: the TLS handshake after the server's 220 to STARTTLS.
asio::awaitable<void> SmtpTransport::Impl::handshake(Connection& connection) {
  connection.throw_if_stopped();
  connection.arm(config_.command_timeout);
  SSL* ssl = connection.stream.native_handle();
  // RFC 6066 3: the name the client meant, for servers that host several.
  boost::system::error_code not_numeric;
  asio::ip::make_address(connection.host, not_numeric);
  if (not_numeric) SSL_set_tlsext_host_name(ssl, connection.host.c_str());
  connection.in_handshake = true;
  co_await connection.stream.async_handshake(ssl::stream_base::client, asio::use_awaitable);
  connection.in_handshake = false;
  connection.tls = true;
  connection.tls_version = SSL_get_version(ssl);
  spdlog::info("smtp-out tls remote={} version={} cipher={}", connection.remote(),
               connection.tls_version, SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
}

// RFC 5321 4.1.1.10: QUIT, then the reply, then the close; bounded by the command timeout.
asio::awaitable<void> SmtpTransport::Impl::quit(ConnectionPtr connection) {
  busy_.insert(connection);
  ClientStep first = connection->session.quit();
  co_await drive(*connection, std::move(first));
  busy_.erase(connection);
}

// The connection's timer: while it works, the deadline of the operation in progress (past
// it, the operation is cancelled); while it is idle, the end of its idle time (past it, it
// leaves the pool and says QUIT). After Asio's cpp20 timeout example.
asio::awaitable<void> SmtpTransport::Impl::watch(ConnectionPtr connection) {
  const auto self = shared_from_this();
  while (!connection->closed) {
    boost::system::error_code ec;
    co_await connection->deadline.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    // A new deadline cancels the wait; only one that really passed counts.
    if (connection->closed || connection->deadline.expiry() > SteadyClock::now()) continue;
    connection->deadline.expires_at(SteadyClock::time_point::max());
    if (connection->idle) {
      forget(connection);
      asio::co_spawn(strand_, quit(connection), asio::detached);
    } else {
      connection->timed_out = true;
      connection->socket().cancel(ec);
    }
  }
}

ConnectionPtr SmtpTransport::Impl::start(ConnectionPtr connection) {
  connection->cancelled = shut_down_;  // shutdown() came after the attempt began
  busy_.insert(connection);
  asio::co_spawn(strand_, watch(connection), asio::detached);
  return connection;
}

// After a message or a failed opening: a ready connection goes to the pool while it may
// carry more, otherwise it says QUIT; a closed one is dropped.
void SmtpTransport::Impl::finish(const ConnectionPtr& connection, ClientStep::Next next) {
  busy_.erase(connection);
  if (next != ClientStep::Next::ready) {
    connection->close();
  } else if (connection->messages < config_.max_messages_per_connection && !shut_down_) {
    keep_idle(connection);
  } else {
    asio::co_spawn(strand_, quit(connection), asio::detached);
  }
}

ConnectionPtr SmtpTransport::Impl::take_idle(const std::string& destination) {
  const auto found = idle_.find(destination);
  if (found == idle_.end()) return nullptr;
  ConnectionPtr connection = found->second;
  idle_.erase(found);
  connection->idle = false;
  connection->deadline.expires_at(SteadyClock::time_point::max());
  busy_.insert(connection);
  return connection;
}

void SmtpTransport::Impl::keep_idle(const ConnectionPtr& connection) {
  connection->idle = true;
  connection->arm(config_.idle_timeout);
  idle_.emplace(connection->destination, connection);
}

void SmtpTransport::Impl::forget(const ConnectionPtr& connection) {
  connection->idle = false;
  const auto [first, last] = idle_.equal_range(connection->destination);
  for (auto it = first; it != last; ++it) {
    if (it->second == connection) {
      idle_.erase(it);
      return;
    }
  }
}

SmtpTransport::SmtpTransport(asio::io_context& io, Resolver& resolver, const OutboundConfig& config,
                             std::vector<RouteConfig> routes, std::vector<std::string> local_names)
    : impl_(std::make_shared<Impl>(io, resolver, config, std::move(routes),
                                   std::move(local_names))) {}

SmtpTransport::~SmtpTransport() {
  impl_->shutdown();
}

AttemptResult SmtpTransport::attempt(const MessageRecord& message, const Delivery& delivery,
                                     std::string_view content) {
  return impl_->attempt(message, {delivery}, content).front();
}

std::vector<AttemptResult> SmtpTransport::attempt_together(const MessageRecord& message,
                                                           const std::vector<Delivery>& deliveries,
                                                           std::string_view content) {
  return impl_->attempt(message, deliveries, content);
}

void SmtpTransport::shutdown() {
  impl_->shutdown();
}

}  // namespace herald
