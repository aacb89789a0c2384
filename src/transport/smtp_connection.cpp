#include "transport/smtp_connection.h"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <limits>
#include <stdexcept>
#include <utility>

#include "util/time_text.h"

namespace herald {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

// RFC 5321 4.5.3.2.5: the data block timeout bounds "each TCP SEND call transmitting a chunk
// of data"; content is written in blocks of this size, each with its own deadline, so that
// a peer that stops reading is noticed after data_block_timeout, however large the message.
constexpr size_t kBlockSize = 64 * 1024;

constexpr size_t kNotArmed = std::numeric_limits<size_t>::max();

SmtpWait wait_for_reply(ClientWait wait) {
  switch (wait) {
    case ClientWait::greeting:
      return SmtpWait::greeting;
    case ClientWait::command:
      return SmtpWait::command;
    case ClientWait::mail:
      return SmtpWait::mail;
    case ClientWait::rcpt:
      return SmtpWait::rcpt;
    case ClientWait::data_init:
      return SmtpWait::data_init;
    case ClientWait::chunk:
      return SmtpWait::data_block;
    case ClientWait::data_end:
      return SmtpWait::data_end;
  }
  return SmtpWait::command;
}

// What the connection was doing when a deadline struck, for the ledger's reply.
std::string doing(SmtpWait wait, const std::string& remote) {
  switch (wait) {
    case SmtpWait::connect:
      return "connecting to " + remote;
    case SmtpWait::greeting:
      return "waiting for the greeting from " + remote;
    case SmtpWait::command:
      return "waiting for a reply from " + remote;
    case SmtpWait::tls_handshake:
      return "in the TLS handshake with " + remote;
    case SmtpWait::mail:
      return "waiting for the reply to MAIL from " + remote;
    case SmtpWait::rcpt:
      return "waiting for the reply to RCPT from " + remote;
    case SmtpWait::data_init:
      return "waiting for the reply to DATA from " + remote;
    case SmtpWait::data_block:
      return "sending the content to " + remote;
    case SmtpWait::data_end:
      return "waiting for the reply to the end of data from " + remote;
  }
  return remote;
}

}  // namespace

std::chrono::seconds timeout_of(const OutboundConfig& config, SmtpWait wait) {
  switch (wait) {
    case SmtpWait::connect:
      return config.connect_timeout;
    case SmtpWait::greeting:
      return config.greeting_timeout;
    case SmtpWait::command:
    case SmtpWait::tls_handshake:
      return config.command_timeout;
    case SmtpWait::mail:
      return config.mail_timeout;
    case SmtpWait::rcpt:
      return config.rcpt_timeout;
    case SmtpWait::data_init:
      return config.data_init_timeout;
    case SmtpWait::data_block:
      return config.data_block_timeout;
    case SmtpWait::data_end:
      return config.data_timeout;
  }
  return config.command_timeout;
}

const char* timeout_key(SmtpWait wait) {
  switch (wait) {
    case SmtpWait::connect:
      return "connect_timeout";
    case SmtpWait::greeting:
      return "greeting_timeout";
    case SmtpWait::command:
    case SmtpWait::tls_handshake:
      return "command_timeout";
    case SmtpWait::mail:
      return "mail_timeout";
    case SmtpWait::rcpt:
      return "rcpt_timeout";
    case SmtpWait::data_init:
      return "data_init_timeout";
    case SmtpWait::data_block:
      return "data_block_timeout";
    case SmtpWait::data_end:
      return "data_timeout";
  }
  return "command_timeout";
}

OutboundConnection::OutboundConnection(const OutboundStrand& strand,
                                       std::shared_ptr<ssl::context> tls,
                                       const ClientSettings& settings, const OutboundConfig& config,
                                       std::string host, tcp::endpoint endpoint,
                                       std::string destination)
    : config_(config),
      tls_context_(std::move(tls)),
      stream_(strand, *tls_context_),
      timer_(strand, SteadyClock::time_point::max()),
      session_(settings),
      host_(std::move(host)),
      endpoint_(std::move(endpoint)),
      destination_(std::move(destination)) {}

std::string OutboundConnection::remote() const {
  return host_ + "[" + endpoint_.address().to_string() + "]:" + std::to_string(endpoint_.port());
}

void OutboundConnection::start_timer(std::function<void(OutboundConnectionPtr)> idle_ended) {
  asio::co_spawn(timer_.get_executor(), watch(std::move(idle_ended)), asio::detached);
}

// The connection's timer. While it works: the end of the wait in progress (past it, the wait
// is cancelled). While it is idle: the end of its idle time. After Asio's cpp20 timeout
// example: one watchdog beside the work, never a timer per operation.
asio::awaitable<void> OutboundConnection::watch(
    std::function<void(OutboundConnectionPtr)> idle_ended) {
  const OutboundConnectionPtr self = shared_from_this();
  while (!closed_) {
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    // A new expiry cancels the wait; only one that really passed counts.
    if (closed_ || timer_.expiry() > SteadyClock::now()) continue;
    timer_.expires_at(SteadyClock::time_point::max());
    if (idle_) {
      idle_ = false;
      idle_ended(self);
    } else {
      stopped_ = SteadyClock::now() >= attempt_deadline_ ? SmtpStop::attempt_deadline
                                                         : SmtpStop::wait_timeout;
      socket().cancel(ec);
    }
  }
}

void OutboundConnection::arm(SmtpWait wait) {
  waiting_ = wait;
  wait_deadline_ = SteadyClock::now() + timeout_of(config_, wait);
  timer_.expires_at(std::min(wait_deadline_, attempt_deadline_));
}

// Every operation starts here: once the timer or shutdown() stopped the connection, nothing
// more may start on it (they can strike between two operations).
void OutboundConnection::throw_if_stopped() const {
  if (stopped_ == SmtpStop::wait_timeout || stopped_ == SmtpStop::attempt_deadline) {
    throw boost::system::system_error(asio::error::timed_out);
  }
  if (stopped_ == SmtpStop::shutdown) {
    throw boost::system::system_error(asio::error::operation_aborted);
  }
}

std::string OutboundConnection::why(const boost::system::system_error& error) const {
  if (stopped_ == SmtpStop::shutdown) return "herald is shutting down";
  return (in_handshake_ ? "TLS handshake failed: " : "") + error.code().message() + " (" +
         remote() + ")";
}

// "timeout after 5m (greeting_timeout) waiting for the greeting from mx[192.0.2.1]:25".
std::string OutboundConnection::deadline_reason() const {
  if (stopped_ == SmtpStop::attempt_deadline) {
    return "attempt deadline passed (attempt_timeout " + duration_text(config_.attempt_timeout) +
           ") " + doing(waiting_, remote());
  }
  return "timeout after " + duration_text(timeout_of(config_, waiting_)) + " (" +
         timeout_key(waiting_) + ") " + doing(waiting_, remote());
}

asio::awaitable<std::string> OutboundConnection::connect() {
  try {
    throw_if_stopped();
    arm(SmtpWait::connect);
    co_await socket().async_connect(endpoint_, asio::use_awaitable);
  } catch (const boost::system::system_error& e) {
    const bool deadline =
        stopped_ == SmtpStop::wait_timeout || stopped_ == SmtpStop::attempt_deadline;
    std::string reason = deadline ? deadline_reason() : why(e);
    close();
    co_return reason;
  }
  co_return std::string();
}

asio::awaitable<ClientStep::Next> OutboundConnection::drive(ClientStep step,
                                                            ContentReader* content) {
  const OutboundConnectionPtr self = shared_from_this();
  size_t armed_at = kNotArmed;  // replies_read() when the wait for the next reply began
  for (;;) {
    try {
      if (!step.output.empty()) {
        co_await write_step(step.output, content);
        armed_at = kNotArmed;
      }
      if (step.next == ClientStep::Next::ready || step.next == ClientStep::Next::close) break;
      if (step.next == ClientStep::Next::send_content) {
        if (content == nullptr) throw std::logic_error("the session asked for content it has not");
        step = co_await next_content(*content);
        continue;
      }
      if (step.next == ClientStep::Next::start_tls) {
        co_await handshake();
        step = session_.on_tls_started();
        armed_at = kNotArmed;
        continue;
      }
      // One deadline per reply, not per read: a server that sends a reply an octet at a time
      // gets no more time for it than one that sends nothing.
      if (session_.replies_read() != armed_at) {
        arm(wait_for_reply(session_.waiting_for()));
        armed_at = session_.replies_read();
      }
      const size_t received = co_await read();
      step = session_.on_received(std::string_view(input_.data(), received));
    } catch (const boost::system::system_error& e) {
      const bool deadline =
          stopped_ == SmtpStop::wait_timeout || stopped_ == SmtpStop::attempt_deadline;
      step =
          deadline ? session_.on_deadline(deadline_reason()) : session_.on_connection_lost(why(e));
    }
  }
  if (step.next == ClientStep::Next::close) close();
  co_return step.next;
}

asio::awaitable<size_t> OutboundConnection::read() {
  throw_if_stopped();
  const asio::mutable_buffer buffer = asio::buffer(input_);
  size_t received = 0;
  if (tls_) {
    received = co_await stream_.async_read_some(buffer, asio::use_awaitable);
  } else {
    received = co_await socket().async_read_some(buffer, asio::use_awaitable);
  }
  read_since_message_ += received;
  co_return received;
}

asio::awaitable<void> OutboundConnection::write(const std::string& data, SmtpWait wait) {
  for (size_t at = 0; at < data.size(); at += kBlockSize) {
    throw_if_stopped();
    arm(wait);
    const asio::const_buffer block =
        asio::buffer(data.data() + at, std::min(kBlockSize, data.size() - at));
    if (tls_) {
      co_await asio::async_write(stream_, block, asio::use_awaitable);
    } else {
      co_await asio::async_write(socket(), block, asio::use_awaitable);
    }
  }
}

// A step's output: content with the data block timeout, while the next piece is read beside
// it; anything else with the timeout of the reply it asks for.
asio::awaitable<void> OutboundConnection::write_step(const std::string& data,
                                                     ContentReader* content) {
  if (!session_.in_content()) {
    co_await write(data, wait_for_reply(session_.waiting_for()));
  } else if (content != nullptr && content->can_read_ahead()) {
    co_await (write(data, SmtpWait::data_block) && content->read_ahead());
  } else {
    co_await write(data, SmtpWait::data_block);
  }
}

asio::awaitable<ClientStep> OutboundConnection::next_content(ContentReader& content) {
  throw_if_stopped();  // a deadline that struck while the piece was read ahead
  std::string piece;
  try {
    piece = co_await content.next();
  } catch (const ContentReadError& e) {
    co_return session_.on_content_unavailable(
        std::string("reading the message from the store failed: ") + e.what());
  }
  co_return session_.on_content(piece, content.done());
}

// RFC 3207 4: the TLS handshake after the server's 220 to STARTTLS.
asio::awaitable<void> OutboundConnection::handshake() {
  throw_if_stopped();
  arm(SmtpWait::tls_handshake);
  SSL* ssl = stream_.native_handle();
  // RFC 6066 3: the name the client meant, for servers that host several.
  boost::system::error_code not_numeric;
  asio::ip::make_address(host_, not_numeric);
  if (not_numeric) SSL_set_tlsext_host_name(ssl, host_.c_str());
  in_handshake_ = true;
  co_await stream_.async_handshake(ssl::stream_base::client, asio::use_awaitable);
  in_handshake_ = false;
  tls_ = true;
  tls_version_ = SSL_get_version(ssl);
  spdlog::info("smtp-out tls remote={} version={} cipher={}", remote(), tls_version_,
               SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
}

void OutboundConnection::become_idle() {
  idle_ = true;
  attempt_deadline_ = SteadyClock::time_point::max();
  timer_.expires_after(config_.idle_timeout);
}

void OutboundConnection::end_idle() {
  idle_ = false;
  timer_.expires_at(SteadyClock::time_point::max());
}

void OutboundConnection::cancel() {
  if (closed_) return;
  stopped_ = SmtpStop::shutdown;
  boost::system::error_code ignored;
  socket().cancel(ignored);
}

void OutboundConnection::close() {
  closed_ = true;
  timer_.cancel();
  boost::system::error_code ignored;
  socket().shutdown(tcp::socket::shutdown_both, ignored);
  socket().close(ignored);
}

}  // namespace herald
