// The conversation of an inbound SMTP connection: commands, replies, TLS, timeouts, and the
// checks of the sender and of credentials (the content is server_connection_message.cpp's).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>

#include "auth/spf_awaitable.h"
#include "smtp/server_connection_impl.h"

namespace herald {
namespace {

// A login name comes from the client: its control characters and quotes are escaped so
// that it cannot forge or break log lines.
std::string printable_login(std::string_view login) {
  std::string out;
  for (const unsigned char c : login.substr(0, 256)) {
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace

asio::awaitable<void> SmtpConnection::Impl::run() {
  const auto self = shared_from_this();
  spdlog::info("session={} start peer={}:{} listener={}", id_, peer_.ip, peer_.port,
               services_.settings.listener);
  asio::co_spawn(executor_, watchdog(), asio::detached);
  try {
    co_await converse();
  } catch (const boost::system::system_error& e) {
    // A TLS client that closes without close_notify has left just the same.
    const bool client_went_away = e.code() == asio::error::eof ||
                                  e.code() == asio::error::connection_reset ||
                                  e.code() == asio::error::operation_aborted ||
                                  e.code() == asio::ssl::error::stream_truncated;
    if (end_reason_.empty() && !client_went_away) end_reason_ = "error: " + e.code().message();
  } catch (const std::exception& e) {
    if (end_reason_.empty()) end_reason_ = std::string("error: ") + e.what();
  }
  // A timeout or a shutdown cut a read or write short: the client hears why it ends.
  if (timed_out_ && std::chrono::steady_clock::now() >= session_deadline_) {
    end_reason_ = "session-time-limit";
    co_await say_goodbye(session_.session_time_reply());
  } else if (timed_out_) {
    end_reason_ = "timeout";
    co_await say_goodbye(session_.timeout_reply());
  } else if (shutdown_requested_ && end_reason_.empty()) {
    end_reason_ = "shutdown";
    co_await say_goodbye(session_.shutdown_reply());
  }
  if (end_reason_.empty()) end_reason_ = "client-disconnected";
  co_await discard_abandoned_bodies(true);
  finished_ = true;
  watchdog_timer_.cancel();
  boost::system::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.socket().close(ignored);
  spdlog::info("session={} end peer={}:{} messages={} reason={}", id_, peer_.ip, peer_.port,
               session_.messages_accepted(), end_reason_);
}

void SmtpConnection::Impl::request_shutdown() {
  asio::post(executor_, [self = shared_from_this()] {
    self->shutdown_requested_ = true;
    // Between commands nothing is lost by stopping now; within a message, finish it first.
    if (self->waiting_for_command_) {
      boost::system::error_code ignored;
      self->stream_.socket().cancel(ignored);
    }
  });
}

// The session, top to bottom: greet, then one command (and what it leads to) at a time.
asio::awaitable<void> SmtpConnection::Impl::converse() {
  // RFC 8314 3.3: on an implicit-TLS port the handshake comes first, then the greeting.
  if (services_.settings.tls_on_connect) co_await start_tls();
  output_ += session_.greeting().wire();
  for (;;) {
    arm(services_.settings.limits.command_timeout);
    std::string line;
    const LineResult read = co_await read_command_line(line);
    if (read == LineResult::shutdown) {
      output_ += session_.shutdown_reply().wire();
      end_reason_ = "shutdown";
      co_await flush();
      co_return;
    }
    SessionStep step =
        read == LineResult::too_long ? session_.on_line_too_long() : session_.on_command_line(line);
    if (!co_await follow(std::move(step))) co_return;
  }
}

// Carries out a step and whatever it leads to, until the session wants its next command
// (true) or the connection closes (false).
asio::awaitable<bool> SmtpConnection::Impl::follow(SessionStep step) {
  for (;;) {
    if (session_.has_abandoned_bodies()) co_await discard_abandoned_bodies(false);
    if (step.reply) {
      output_ += step.reply->wire();
      if (output_.size() >= kMaxPendingOutput) co_await flush();
    }
    switch (step.next) {
      case SessionStep::Next::read_command:
        co_return true;
      case SessionStep::Next::close:
        end_reason_ = step.reply ? session_.close_reason() : "closed";
        co_await flush();
        co_return false;
      case SessionStep::Next::read_data:
        step = co_await receive_data();
        break;
      case SessionStep::Next::read_chunk:
        step = co_await receive_chunk(step.chunk_size);
        break;
      case SessionStep::Next::check_sender:
        step = co_await check_sender();
        break;
      case SessionStep::Next::check_message:
        step = co_await check_message();
        break;
      case SessionStep::Next::seal_message:
        step = co_await seal_message();
        break;
      case SessionStep::Next::commit:
        step = co_await commit();
        break;
      case SessionStep::Next::check_credentials:
        step = co_await check_credentials();
        break;
      case SessionStep::Next::start_tls:
        co_await start_tls();
        co_return true;
    }
  }
}

// Reads one command line (CRLF, or a bare LF, as Postfix also accepts). A line past
// limits.max_command_line is skipped up to its end and reported as too long; the buffer
// never holds more than the limit plus one read. Once shutdown is requested, it reports
// that instead of waiting for input.
asio::awaitable<SmtpConnection::Impl::LineResult> SmtpConnection::Impl::read_command_line(
    std::string& line) {
  const size_t limit = services_.settings.limits.max_command_line;
  bool skipping = false;
  for (;;) {
    const std::string_view data = buffered();
    const size_t lf = data.find('\n');
    if (lf != std::string_view::npos) {
      consume(lf + 1);
      if (skipping || lf + 1 > limit) co_return LineResult::too_long;
      line.assign(data.substr(0, lf));
      if (!line.empty() && line.back() == '\r') line.pop_back();
      co_return LineResult::line;
    }
    if (data.size() >= limit) {
      skipping = true;
      consume(data.size());
    }
    // RFC 2920 3.2: replies to a pipelined group go out when no further command is buffered.
    waiting_for_command_ = true;
    co_await flush();
    // Commands already buffered still run; a shutdown only stops the waiting for more. The
    // flag is checked with no suspension before the read starts, so a request_shutdown()
    // either is seen here or finds the read to cancel.
    if (shutdown_requested_) co_return LineResult::shutdown;
    co_await fill();
    waiting_for_command_ = false;
  }
}

// SPF waits on the sender's DNS (bounded by SpfOptions::time_limit); the replies already
// due go out first so that a pipelining client is not kept waiting for them.
asio::awaitable<SessionStep> SmtpConnection::Impl::check_sender() {
  co_await flush();
  SenderChecks& checks = *services_.sender_checks;
  SpfRequest request = session_.sender_to_check();
  auto check = check_spf(checks.resolver, std::move(request), checks.spf_options);
  SpfOutcome outcome =
      co_await asio::co_spawn(checks.executor, std::move(check), asio::use_awaitable);
  spdlog::debug("session={} spf={} domain={} ({})", id_, to_string(outcome.result), outcome.domain,
                outcome.reason);
  co_return session_.on_sender_checked(std::move(outcome));
}

// crypt(3) hashes such as yescrypt take tens of milliseconds by design: the check runs on
// the commit pool so that the io threads keep serving other sessions meanwhile.
asio::awaitable<SessionStep> SmtpConnection::Impl::check_credentials() {
  co_await flush();
  const SaslCredentials& credentials = session_.credentials_to_check();
  const Directory& directory = *resources_->directory;
  std::optional<std::string> user = co_await asio::co_spawn(
      services_.commit_executor,
      [&]() -> asio::awaitable<std::optional<std::string>> {
        co_return directory.authenticate(credentials.login, credentials.password);
      },
      asio::use_awaitable);
  // The login is what the client typed; never the password.
  if (user) {
    spdlog::info("session={} auth ok peer={} user={}", id_, peer_.ip, *user);
  } else {
    spdlog::warn("session={} auth failed peer={} login=\"{}\"", id_, peer_.ip,
                 printable_login(credentials.login));
  }
  co_return session_.on_credentials_checked(std::move(user));
}

asio::awaitable<void> SmtpConnection::Impl::start_tls() {
  // RFC 3207 5 and CVE-2011-0411: commands pipelined after STARTTLS arrived in plaintext
  // and could have been injected by anyone on the path; they must never run inside TLS.
  if (!buffered().empty()) {
    spdlog::warn("session={} discarded {} octets sent in plaintext after STARTTLS peer={}", id_,
                 buffered().size(), peer_.ip);
    consume(buffered().size());
  }
  co_await flush();
  arm(services_.settings.limits.command_timeout);
  TlsInfo tls;
  try {
    throw_if_timed_out();
    tls = co_await stream_.handshake();
  } catch (const boost::system::system_error& e) {
    // Half-way through a handshake there is no channel left to send a 421 on.
    end_reason_ =
        timed_out_ ? "tls-handshake-timeout" : "tls-handshake-failed: " + e.code().message();
    timed_out_ = false;
    throw;
  }
  session_.on_tls_started(tls);
  spdlog::info("session={} tls peer={} version={} cipher={}", id_, peer_.ip, tls.version,
               tls.cipher);
}

asio::awaitable<void> SmtpConnection::Impl::say_goodbye(const Reply& reply) {
  timed_out_ = false;
  shutdown_requested_ = false;
  output_ += reply.wire();
  // Past the session's deadline too: the farewell gets its own few seconds.
  watchdog_timer_.expires_after(kFarewellTimeout);
  try {
    co_await flush();
  } catch (const boost::system::system_error&) {
    // The client is gone or does not read; the socket closes either way.
  }
}

asio::awaitable<void> SmtpConnection::Impl::fill() {
  throw_if_timed_out();
  if (input_begin_ == input_.size()) {
    input_.clear();
    input_begin_ = 0;
  } else if (input_begin_ > 0) {
    input_.erase(0, input_begin_);
    input_begin_ = 0;
  }
  const size_t old_size = input_.size();
  input_.resize(old_size + kReadSize);
  size_t n = 0;
  try {
    n = co_await stream_.read_some(asio::buffer(input_.data() + old_size, kReadSize));
  } catch (...) {
    input_.resize(old_size);
    throw;
  }
  input_.resize(old_size + n);
}

asio::awaitable<void> SmtpConnection::Impl::flush() {
  if (output_.empty()) co_return;
  throw_if_timed_out();
  const std::string pending = std::move(output_);
  output_.clear();
  co_await stream_.write(asio::buffer(pending));
}

// The timeout watchdog (after Asio's cpp20 timeout example): it sleeps until the current
// deadline and, if that passes with the session still waiting, cancels the socket's
// operations, which ends the waiting read or write with operation_aborted.
asio::awaitable<void> SmtpConnection::Impl::watchdog() {
  const auto self = shared_from_this();
  while (!finished_) {
    boost::system::error_code ec;
    co_await watchdog_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (finished_) break;
    // A new deadline cancels the wait; only a deadline that really passed counts.
    if (watchdog_timer_.expiry() <= std::chrono::steady_clock::now()) {
      timed_out_ = true;
      disarm();
      stream_.socket().cancel(ec);
    }
  }
}

void SmtpConnection::Impl::arm(std::chrono::steady_clock::duration timeout) {
  watchdog_timer_.expires_at(
      std::min(std::chrono::steady_clock::now() + timeout, session_deadline_));
}

SmtpConnection::SmtpConnection(tcp::socket socket, PeerInfo peer, const SmtpServices& services,
                               uint64_t id)
    : impl_(std::make_shared<Impl>(std::move(socket), std::move(peer), services, id)) {}

SmtpConnection::~SmtpConnection() = default;

asio::awaitable<void> SmtpConnection::run() {
  const std::shared_ptr<Impl> impl = impl_;
  co_await impl->run();
}

void SmtpConnection::request_shutdown() {
  impl_->request_shutdown();
}

}  // namespace herald
