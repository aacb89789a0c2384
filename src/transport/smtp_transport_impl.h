// The insides of the SMTP transport (transport/smtp_transport.h), shared by the files that
// implement it, one job each: smtp_transport.cpp (starting and ending attempts, shutdown),
// smtp_attempt.cpp (one attempt: next hops, connections, the transaction),
// smtp_connection_pool.cpp (connections kept between messages) and smtp_blocking_attempt.cpp
// (the blocking Transport face). Not for use outside them.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "smtp/client_session.h"
#include "transport/smtp_connection.h"
#include "transport/smtp_next_hops.h"
#include "transport/smtp_transport.h"

namespace herald::smtp_out {

// What one message on one connection came to. `stale`: the connection had been idle in the
// pool and turned out dead before the transaction got anywhere; the message never went and
// another connection should carry it.
struct Sent {
  std::vector<AttemptResult> results;  // one per recipient, in order
  bool stale = false;
};

// The same outcome for every recipient: what happens before a transaction decides per RCPT.
inline std::vector<AttemptResult> for_each_of(size_t recipients, const AttemptResult& outcome) {
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

}  // namespace herald::smtp_out

namespace herald {

// Threading: everything below runs on `strand_`, one strand for the whole transport: the
// protocol work between two network waits is small, and one strand makes the pool, the
// connections and shutdown free of locks. Other threads enter through start() and
// shutdown(), which post to it; only `running_` is shared with them, under its mutex.
class SmtpTransport::Impl : public std::enable_shared_from_this<Impl> {
 public:
  // Reads of body pieces at once, over every attempt: local disk reads, short beside the
  // network waits they overlap with.
  static constexpr unsigned kContentReadThreads = 2;

  Impl(boost::asio::io_context& io, Resolver& resolver, const OutboundConfig& config,
       std::vector<RouteConfig> routes, std::vector<std::string> local_names, OwnEndpoints own);

  void start(AttemptRequest request, AttemptDone done);
  void shutdown();
  void end_every_running_attempt();

 private:
  struct Running {
    size_t deliveries = 0;
    AttemptDone done;
  };

  boost::asio::awaitable<std::vector<AttemptResult>> run(
      std::shared_ptr<const AttemptRequest> request);
  boost::asio::awaitable<OutboundConnectionPtr> open(smtp_out::Attempt& attempt,
                                                     const std::string& host,
                                                     const boost::asio::ip::address& address,
                                                     uint16_t port, std::string& error);
  boost::asio::awaitable<OutboundConnectionPtr> open_with(
      const ClientSettings& settings, smtp_out::Attempt& attempt, const std::string& host,
      const boost::asio::ip::address& address, uint16_t port, std::string& error, bool& tls_failed);
  boost::asio::awaitable<smtp_out::Sent> send(OutboundConnectionPtr connection,
                                              const OutboundMessage& message,
                                              std::shared_ptr<const MessageContent> content,
                                              const smtp_out::Attempt& attempt);
  boost::asio::awaitable<void> quit(OutboundConnectionPtr connection);
  std::optional<AttemptResult> loop_check(const std::string& domain, const std::string& host,
                                          const std::vector<boost::asio::ip::address>& addresses,
                                          uint16_t port) const;

  OutboundConnectionPtr make_connection(const ClientSettings& settings, const std::string& host,
                                        boost::asio::ip::tcp::endpoint endpoint,
                                        const std::string& destination);
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
  std::shared_ptr<boost::asio::ssl::context> tls_context_;
  ClientSettings settings_;

  std::atomic<bool> shut_down_{false};                      // read anywhere; the rest on strand_
  std::multimap<std::string, OutboundConnectionPtr> idle_;  // by destination
  std::set<OutboundConnectionPtr> busy_;                    // carrying an attempt, or saying QUIT

  std::mutex running_mutex_;             // guards what follows; taken briefly, never across I/O
  std::map<uint64_t, Running> running_;  // attempts whose done has not been called
  uint64_t next_attempt_ = 0;

  // Body pieces are read here (MessageBody::piece blocks on the store), never on the strand;
  // each connection reads one piece ahead of the one it writes (transport/content_reader.h).
  // Last, so that it is joined first: a read still running completes on the strand.
  boost::asio::thread_pool content_reads_{kContentReadThreads};
};

}  // namespace herald
