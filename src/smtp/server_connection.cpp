#include "smtp/server_connection.h"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "auth/spf_awaitable.h"

namespace herald {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using SteadyTime = std::chrono::steady_clock::time_point;

constexpr size_t kReadSize = 16 * 1024;
// Replies to a long pipelined group are flushed once this much is waiting (RFC 2920 3.2
// lets the server flush whenever it likes; the bound keeps memory small).
constexpr size_t kMaxPendingOutput = 16 * 1024;
// How long a last 421 may take to leave; a client that does not read it loses it.
constexpr auto kFarewellTimeout = std::chrono::seconds(5);

// The connection's byte stream, before and after STARTTLS: the same object, which reads
// and writes the TCP socket directly until the handshake and through TLS afterwards.
class SmtpStream {
 public:
  SmtpStream(tcp::socket socket, asio::ssl::context& tls) : ssl_(std::move(socket), tls) {}

  asio::awaitable<size_t> read_some(asio::mutable_buffer buffer) {
    if (tls_) co_return co_await ssl_.async_read_some(buffer, asio::use_awaitable);
    co_return co_await ssl_.next_layer().async_read_some(buffer, asio::use_awaitable);
  }

  asio::awaitable<void> write(asio::const_buffer buffer) {
    if (tls_) {
      co_await asio::async_write(ssl_, buffer, asio::use_awaitable);
    } else {
      co_await asio::async_write(ssl_.next_layer(), buffer, asio::use_awaitable);
    }
  }

  asio::awaitable<TlsInfo> handshake() {
    co_await ssl_.async_handshake(asio::ssl::stream_base::server, asio::use_awaitable);
    tls_ = true;
    const SSL* ssl = ssl_.native_handle();
    co_return TlsInfo{SSL_get_version(ssl), SSL_CIPHER_get_name(SSL_get_current_cipher(ssl))};
  }

  tcp::socket& socket() { return ssl_.next_layer(); }

 private:
  asio::ssl::stream<tcp::socket> ssl_;
  bool tls_ = false;
};

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

// MessageAuthenticator::authenticate as co_await: it starts on the verification pool and the
// coroutine resumes on its own executor, whatever thread the last DNS answer or check came on.
// `content` is read on the verification pool, where it is wrapped as a MessageContent (which
// the authenticator copies), and `owner` (what holds the content) travels inside done, so that
// the content outlives every reader even when the coroutine itself is destroyed first (a
// shutdown).
asio::awaitable<MessageAuthentication> authenticate(SenderChecks& checks, std::string_view content,
                                                    SpfCheck spf, std::shared_ptr<void> owner) {
  auto initiate = [&checks](auto handler, std::string_view content, SpfCheck spf,
                            std::shared_ptr<void> owner) {
    // std::function must be copyable; the coroutine's handler is move-only.
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    asio::post(checks.verify_executor, [&checks, shared, content, spf = std::move(spf),
                                        owner = std::move(owner)]() mutable {
      const MessageContent message = MessageContent::from_text(content);
      checks.authenticator.authenticate(
          message, std::move(spf), [shared, owner](MessageAuthentication auth) {
            auto executor = asio::get_associated_executor(*shared);
            asio::post(executor, [shared, auth = std::move(auth)]() mutable {
              std::move (*shared)(std::move(auth));
            });
          });
    });
  };
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>,
                                          void(MessageAuthentication)>(
      initiate, asio::use_awaitable, content, std::move(spf), std::move(owner));
}

}  // namespace

class SmtpConnection::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(tcp::socket socket, PeerInfo peer, const SmtpServices& services, uint64_t id)
      : services_(services),
        resources_(services.resources.current()),
        id_(id),
        peer_(std::move(peer)),
        executor_(socket.get_executor()),
        stream_(std::move(socket), *resources_->tls),
        watchdog_timer_(executor_, SteadyTime::max()),
        session_deadline_(std::chrono::steady_clock::now() +
                          services.settings.limits.max_session_time),
        session_(services.settings, *resources_->directory, services.clock, peer_,
                 &services.auth_limiter) {}

  asio::awaitable<void> run();
  void request_shutdown();

 private:
  enum class LineResult { line, too_long, shutdown };

  asio::awaitable<void> converse();
  asio::awaitable<bool> follow(SessionStep step);
  asio::awaitable<LineResult> read_command_line(std::string& line);
  asio::awaitable<SessionStep> receive_data();
  asio::awaitable<SessionStep> receive_chunk(uint64_t size);
  SessionStep after_content(SessionStep step);
  asio::awaitable<SessionStep> commit();
  asio::awaitable<SessionStep> check_sender();
  asio::awaitable<SessionStep> check_message();
  asio::awaitable<SessionStep> seal_message();
  asio::awaitable<void> start_tls();
  asio::awaitable<SessionStep> check_credentials();
  asio::awaitable<void> say_goodbye(const Reply& reply);

  asio::awaitable<void> fill();
  asio::awaitable<void> flush();
  std::string_view buffered() const { return std::string_view(input_).substr(input_begin_); }
  void consume(size_t n) { input_begin_ += n; }

  asio::awaitable<void> watchdog();
  void arm(std::chrono::steady_clock::duration timeout);
  void disarm() { watchdog_timer_.expires_at(SteadyTime::max()); }
  // The watchdog can fire just after an operation completed, when it has nothing to
  // cancel; the next operation then must not start.
  void throw_if_timed_out() const {
    if (timed_out_) throw boost::system::system_error(asio::error::timed_out);
  }

  const SmtpServices& services_;
  // Taken once, before the stream and the session that use it, and kept to the end.
  const std::shared_ptr<const SessionResources> resources_;
  const uint64_t id_;
  const PeerInfo peer_;
  asio::any_io_executor executor_;
  SmtpStream stream_;
  asio::steady_timer watchdog_timer_;
  // limits.max_session_time after the connection came: no deadline armed goes past it.
  const SteadyTime session_deadline_;
  ServerSession session_;

  std::string input_;
  size_t input_begin_ = 0;
  std::string output_;

  bool timed_out_ = false;
  bool waiting_for_command_ = false;
  bool shutdown_requested_ = false;
  bool finished_ = false;
  std::string end_reason_;  // empty while the session runs
};

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

// RFC 5321 4.5.3.2.5: the timeout is per data block (each read), not for the whole transfer,
// which max_session_time bounds.
asio::awaitable<SessionStep> SmtpConnection::Impl::receive_data() {
  for (;;) {
    consume(session_.on_data(buffered()));
    if (session_.data_complete()) break;
    co_await flush();
    arm(services_.settings.limits.data_timeout);
    co_await fill();
  }
  co_return after_content(session_.on_data_end());
}

// RFC 3030 2: exactly `size` octets follow the BDAT command, whatever its answer will be.
asio::awaitable<SessionStep> SmtpConnection::Impl::receive_chunk(uint64_t size) {
  uint64_t remaining = size;
  while (remaining > 0) {
    if (buffered().empty()) {
      co_await flush();
      arm(services_.settings.limits.data_timeout);
      co_await fill();
    }
    const std::string_view piece =
        buffered().substr(0, std::min<uint64_t>(remaining, buffered().size()));
    session_.on_chunk_data(piece);
    consume(piece.size());
    remaining -= piece.size();
  }
  co_return after_content(session_.on_chunk_end());
}

// RFC 5321 4.5.3.2.6: the client waits 10 minutes for the answer to the end of data. herald's
// own work until the commit (the sender checks, the seal) gets limits.end_of_data_timeout, so
// that the answer (or a 421) comes first. A refusal of the content is logged.
SessionStep SmtpConnection::Impl::after_content(SessionStep step) {
  arm(services_.settings.limits.end_of_data_timeout);
  if (step.reply && step.reply->code >= 400) {
    spdlog::info("session={} content refused peer={}: {} {}", id_, peer_.ip, step.reply->code,
                 step.reply->lines.front());
  }
  return step;
}

// The 250 waits for this: the message, its deliveries and its first ledger events are on
// stable storage before the client is told (DESIGN.md promise 1). The commit blocks on
// fsync, so it runs on the commit pool, where concurrent sessions share fsyncs.
asio::awaitable<SessionStep> SmtpConnection::Impl::commit() {
  co_await flush();
  throw_if_timed_out();  // the end-of-data deadline passed during the checks: nothing stored
  disarm();              // a commit cannot be abandoned halfway; the client waits for it
  const AcceptedMessage& message = session_.message_to_commit();
  Store& store = services_.store;
  try {
    co_await asio::co_spawn(
        services_.commit_executor,
        [&]() -> asio::awaitable<void> {
          store.commit_message(message.record, message.content, message.deliveries, message.events);
          co_return;
        },
        asio::use_awaitable);
  } catch (const std::exception& e) {
    spdlog::error("session={} commit failed id={}: {}", id_, message.record.id, e.what());
    co_return session_.on_commit_failed();
  }
  services_.queue.enqueue(message.record, message.deliveries);
  const Envelope& envelope = message.record.envelope;
  spdlog::info("accepted id={} from=<{}> rcpts={} size={} peer={} session={}", message.record.id,
               envelope.mail_from, envelope.rcpt_to.size(), message.record.size, peer_.ip, id_);
  co_return session_.on_commit_succeeded();
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

// DKIM and DMARC need the whole content; the client waits for the end-of-data reply.
asio::awaitable<SessionStep> SmtpConnection::Impl::check_message() {
  co_await flush();
  SenderChecks& checks = *services_.sender_checks;
  // The content as received, charged to the in-flight budget, read in place: the session
  // leaves it alone until the checks answer, and this connection (which holds it) stays alive
  // while they read.
  const std::string_view content = session_.message_to_commit().content;
  SpfCheck spf = session_.spf_check();
  const MessageAuthentication auth =
      co_await authenticate(checks, content, std::move(spf), shared_from_this());
  throw_if_timed_out();
  SessionStep step = session_.on_message_checked(auth);
  if (step.reply && !step.reply->is_positive()) {
    spdlog::info("session={} refused from=<{}> peer={} dmarc={} from_domain={}: {}", id_,
                 auth.spf.request.mail_from, peer_.ip, to_string(auth.dmarc_result),
                 auth.from_domain, step.reply->lines.front());
  }
  co_return step;
}

// Two signatures (RSA: about a millisecond each), on the verification pool.
asio::awaitable<SessionStep> SmtpConnection::Impl::seal_message() {
  SenderChecks& checks = *services_.sender_checks;
  const ArcSealer& sealer = *checks.sealer;
  const std::string& content = session_.message_to_commit().content;
  const ServerSession::ArcSealRequest& request = session_.seal_request();
  const std::string& authserv_id = services_.settings.hostname;
  const TimePoint now = services_.clock.now();
  std::variant<std::string, ArcSealError> sealed = co_await asio::co_spawn(
      checks.verify_executor,
      [&]() -> asio::awaitable<std::variant<std::string, ArcSealError>> {
        co_return sealer.seal(MessageContent::from_text(content), authserv_id, request.results,
                              request.chain, now);
      },
      asio::use_awaitable);
  throw_if_timed_out();
  if (auto* error = std::get_if<ArcSealError>(&sealed)) {
    spdlog::warn("session={} arc seal skipped: {}", id_, error->reason);
    co_return session_.on_seal_refused(error->reason);
  }
  co_return session_.on_message_sealed(std::move(std::get<std::string>(sealed)));
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
