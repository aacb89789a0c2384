// One attempt of the SMTP transport (transport/smtp_transport.h): the next hops of the
// recipients' domain, a connection to the first host that takes one, and the transaction on
// it, the content streamed from the store a piece at a time (transport/content_reader.h).
#include <spdlog/spdlog.h>

#include <set>
#include <utility>

#include "transport/content_reader.h"
#include "transport/smtp_transport_impl.h"
#include "util/ascii.h"
#include "util/time_text.h"

namespace herald {

using namespace smtp_out;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
namespace {

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
  out.content_size = request.content->size();
  out.body =
      message.envelope.body_type == "8BITMIME" ? BodyType::eight_bit_mime : BodyType::seven_bit;
  out.smtputf8 = message.envelope.smtputf8;
  out.ret = message.qos.ret;
  out.envid = message.qos.envid;
  return out;
}

}  // namespace

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
    Sent sent = co_await send(idle, outbound, request.content, attempt);
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
      if (connection) {
        co_return (co_await send(connection, outbound, request.content, attempt)).results;
      }
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
                                                std::shared_ptr<const MessageContent> content,
                                                const Attempt& attempt) {
  const bool reused = connection->messages() > 0;
  connection->begin_message();
  // A reader per message sent: a stale connection's retry starts from the first piece.
  ContentReader reader(std::move(content), content_reads_.get_executor());
  ClientStep first = connection->session().send(message);
  const ClientStep::Next next = co_await connection->drive(std::move(first), &reader);
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

}  // namespace herald
