// One outbound SMTP connection (the shape of OpenSMTPD's mta_session.c): TCP, TLS once
// STARTTLS succeeded, the ClientSession that speaks SMTP over it, and the deadlines that
// bound every wait on it. Internal to the SMTP transport (transport/smtp_*.cpp): which
// connection carries which message, and the pool of idle ones, are smtp_transport.cpp's.
#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "config/config.h"
#include "smtp/client_session.h"
#include "transport/content_reader.h"

namespace herald {

using OutboundStrand = boost::asio::strand<boost::asio::io_context::executor_type>;
using SteadyClock = std::chrono::steady_clock;

// What a connection waits for; each has its own [outbound] timeout (RFC 5321 4.5.3.2).
enum class SmtpWait {
  connect,        // connect_timeout
  greeting,       // greeting_timeout
  command,        // command_timeout: EHLO, HELO, STARTTLS, RSET, QUIT
  tls_handshake,  // command_timeout
  mail,           // mail_timeout
  rcpt,           // rcpt_timeout
  data_init,      // data_init_timeout: the 354
  data_block,     // data_block_timeout: writing one block of content, or a BDAT chunk's reply
  data_end,       // data_timeout: the reply to the final dot or BDAT LAST
};

// Why the operations on a connection stopped, when they did.
enum class SmtpStop {
  none,
  wait_timeout,      // one wait took longer than its own timeout
  attempt_deadline,  // the attempt's attempt_timeout passed during a wait
  shutdown,          // SmtpTransport::shutdown()
};

// Used on the transport's strand only, and by one attempt at a time. Every wait ends at
// the earlier of its own timeout and the attempt's deadline, so no peer holds an attempt
// (and the slot the queue gave it) past attempt_timeout, whatever it sends and how slowly.
class OutboundConnection : public std::enable_shared_from_this<OutboundConnection> {
 public:
  // `config` must outlive the connection. Does no I/O.
  OutboundConnection(const OutboundStrand& strand, std::shared_ptr<boost::asio::ssl::context> tls,
                     const ClientSettings& settings, const OutboundConfig& config, std::string host,
                     boost::asio::ip::tcp::endpoint endpoint, std::string destination);

  // "mx.example[192.0.2.1]:25", the ledger's remote= and the logs' peer.
  std::string remote() const;
  const std::string& host() const { return host_; }                // the name that led here
  const std::string& destination() const { return destination_; }  // the pool's key
  ClientSession& session() { return session_; }
  bool tls() const { return tls_; }
  const std::string& tls_version() const { return tls_version_; }  // "TLSv1.3"; "" in clear
  SmtpStop stopped() const { return stopped_; }
  bool closed() const { return closed_; }
  bool failed_in_tls_handshake() const { return in_handshake_; }
  uint32_t messages() const { return messages_; }
  // Octets of replies read since the last begin_message(): 0 on a reused connection means
  // the server never answered this message (it closed the connection while it sat idle).
  size_t read_since_message() const { return read_since_message_; }

  // The attempt that uses the connection from now on ends at `deadline`.
  void begin_attempt(SteadyClock::time_point deadline) { attempt_deadline_ = deadline; }
  void begin_message() {
    read_since_message_ = 0;
    ++messages_;
  }

  // Starts the connection's timer (a coroutine on the strand, alive while the connection is
  // open). `idle_ended` runs on the strand when the connection's idle time ran out.
  void start_timer(std::function<void(std::shared_ptr<OutboundConnection>)> idle_ended);

  // TCP connect within connect_timeout; an empty string, or why it failed.
  boost::asio::awaitable<std::string> connect();

  // Carries out `step` and what follows from it until the session is ready for a message or
  // the connection has closed (then closed() is true). I/O failures and deadlines end the
  // session: ClientSession makes every open recipient a temporary failure. Callers pass
  // `step` as a named object (std::move): with GCC 12.2, a prvalue bound to this by-value
  // coroutine parameter came out corrupted (free(): invalid pointer on its first assignment).
  // `content` is the message's, when a message is being sent (it must outlive the call):
  // the session gets it a piece at a time, and the next piece is read while one is written,
  // so the message is never whole in memory. A piece that cannot be read ends the session
  // without the end of data (ClientSession::on_content_unavailable). The wait for a read
  // ahead counts against the write's data_block_timeout, so a stalled disk ends the attempt
  // as a stalled peer would.
  boost::asio::awaitable<ClientStep::Next> drive(ClientStep step, ContentReader* content = nullptr);

  // Enters the pool: the timer then measures idle_timeout, and no attempt bounds it.
  void become_idle();
  // Leaves the pool for an attempt.
  void end_idle();
  bool idle() const { return idle_; }

  // shutdown(): whatever waits is cancelled; nothing more starts on the connection.
  void cancel();
  void close();

 private:
  boost::asio::ip::tcp::socket& socket() { return stream_.next_layer(); }
  void arm(SmtpWait wait);
  void throw_if_stopped() const;
  std::string why(const boost::system::system_error& error) const;
  std::string deadline_reason() const;
  boost::asio::awaitable<void> watch(
      std::function<void(std::shared_ptr<OutboundConnection>)> idle_ended);
  boost::asio::awaitable<size_t> read();
  boost::asio::awaitable<void> write(const std::string& data, SmtpWait wait);
  boost::asio::awaitable<void> write_step(const std::string& data, ContentReader* content);
  boost::asio::awaitable<ClientStep> next_content(ContentReader& content);
  boost::asio::awaitable<void> handshake();

  const OutboundConfig& config_;
  std::shared_ptr<boost::asio::ssl::context> tls_context_;  // outlives the stream using it
  boost::asio::ssl::stream<boost::asio::ip::tcp::socket> stream_;
  boost::asio::steady_timer timer_;
  ClientSession session_;
  const std::string host_;
  const boost::asio::ip::tcp::endpoint endpoint_;
  const std::string destination_;

  static constexpr size_t kReadSize = 16 * 1024;
  std::array<char, kReadSize> input_;
  bool tls_ = false;
  std::string tls_version_;
  SteadyClock::time_point attempt_deadline_ = SteadyClock::time_point::max();
  SteadyClock::time_point wait_deadline_ = SteadyClock::time_point::max();
  SmtpWait waiting_ = SmtpWait::connect;
  SmtpStop stopped_ = SmtpStop::none;
  size_t read_since_message_ = 0;
  uint32_t messages_ = 0;
  bool idle_ = false;
  bool in_handshake_ = false;
  bool closed_ = false;
};

using OutboundConnectionPtr = std::shared_ptr<OutboundConnection>;

// The timeout [outbound] gives `wait`, and the key that sets it (for replies and logs).
std::chrono::seconds timeout_of(const OutboundConfig& config, SmtpWait wait);
const char* timeout_key(SmtpWait wait);

}  // namespace herald
