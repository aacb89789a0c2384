// One inbound SMTP connection: a coroutine that reads commands and content from the
// socket, lets the ServerSession decide, writes its replies, upgrades to TLS on STARTTLS
// (or at once, on a submissions listener), checks AUTH credentials and commits accepted
// messages to the store. Only the server layer includes this header.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>

#include "auth/arc_seal.h"
#include "auth/message_authentication.h"
#include "auth/spf.h"
#include "directory/directory.h"
#include "dns/resolver.h"
#include "queue/queue_runner.h"
#include "smtp/server_session.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/swappable.h"

namespace boost::asio::ssl {
class context;
}

namespace herald {

// What checking senders needs (SessionSettings::verify_senders). Everything referenced
// must outlive every connection.
struct SenderChecks {
  Resolver& resolver;
  MessageAuthenticator& authenticator;
  SpfOptions spf_options;
  const ArcSealer* sealer;  // seals forwarded mail ([arc]); null: no sealing
  // Where SPF runs and every DNS answer arrives: the resolver's own thread, never the io
  // threads (DESIGN.md 5). DNS work only.
  boost::asio::any_io_executor executor;
  // Where MessageAuthenticator::authenticate starts and the ARC seal is made: the verification
  // pool, since hashing and public-key operations are CPU work that must hold up neither the
  // io threads nor the resolver's DNS answers.
  boost::asio::any_io_executor verify_executor;
};

// What a reload of the configuration replaces (server/config_reload.h). A connection takes
// the current one when it is made and keeps it to its end: a session in progress keeps the
// users, passwords, aliases and certificate it started with.
struct SessionResources {
  std::shared_ptr<const Directory> directory;      // never null
  std::shared_ptr<boost::asio::ssl::context> tls;  // never null; shared by many streams
};

// What all connections share. Everything referenced must outlive every connection.
struct SmtpServices {
  const SessionSettings& settings;
  const Swappable<SessionResources>& resources;
  const Clock& clock;
  Store& store;
  QueueRunner& queue;
  // Where Store::commit_message and the password checks of AUTH run: a thread pool, never
  // the io threads (DESIGN.md 5).
  boost::asio::any_io_executor commit_executor;
  AuthFailureLimiter& auth_limiter;       // shared by all listeners
  SenderChecks* sender_checks = nullptr;  // needed when settings.verify_senders
};

class SmtpConnection {
 public:
  // `socket` must be bound to a strand (or a single-threaded executor): the session and its
  // timeout watchdog run there. `peer` is its remote end; `id` names the session in logs.
  SmtpConnection(boost::asio::ip::tcp::socket socket, PeerInfo peer, const SmtpServices& services,
                 uint64_t id);
  ~SmtpConnection();
  SmtpConnection(const SmtpConnection&) = delete;
  SmtpConnection& operator=(const SmtpConnection&) = delete;

  // Converses from the greeting to the close and closes the socket. Never throws: every
  // way a session ends (QUIT, disconnect, timeout, TLS failure, shutdown) is logged.
  // Limits: limits.command_timeout per command, limits.data_timeout per read of DATA or BDAT
  // content, limits.end_of_data_timeout from the end of the content to the commit, and
  // limits.max_session_time for everything; past any of them, 421 4.4.2 and the close.
  boost::asio::awaitable<void> run();

  // Thread-safe. Ends the session with 421 4.3.2 as soon as it waits for a command; a
  // message being received or committed is finished first.
  void request_shutdown();

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace herald
