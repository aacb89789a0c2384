// The fixture of the SMTP transport's tests: io threads of their own, as in the daemon, an
// in-memory resolver, and helpers that build a message and its deliveries.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dns/memory_resolver.h"
#include "transport/smtp_transport.h"

namespace herald {

inline constexpr const char* kContent =
    "From: <alice@sender.test>\r\n"
    "To: <bob@example.test>\r\n"
    "Subject: outbound test\r\n"
    "\r\n"
    "Hello Bob.\r\n"
    ".a line that starts with a dot\r\n";

inline std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> result;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) result.push_back(line);
  return result;
}

// io threads of their own, as in the daemon; the test thread plays the queue's worker.
class SmtpTransportTest : public ::testing::Test {
 protected:
  SmtpTransportTest() : work_(boost::asio::make_work_guard(io_)) {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~SmtpTransportTest() override {
    if (transport_) transport_->shutdown();
    transport_.reset();
    work_.reset();
    io_.stop();
    for (std::thread& thread : threads_) thread.join();
  }

  SmtpTransport& transport(std::vector<RouteConfig> routes = {},
                           std::vector<std::string> local_names = {"mx.herald.test"},
                           std::vector<OwnListener> own_listeners = {}) {
    config_.helo_name = "mx.herald.test";
    transport_ = std::make_unique<SmtpTransport>(io_, dns_, config_, std::move(routes),
                                                 std::move(local_names),
                                                 OwnEndpoints(std::move(own_listeners)));
    return *transport_;
  }

  // example.test goes to relay.example.test:port, whose addresses the test gives.
  static RouteConfig route(uint16_t port) {
    return route_to("example.test", "relay.example.test", port);
  }

  static RouteConfig route_to(std::string domain, std::string host, uint16_t port) {
    return RouteConfig{std::move(domain), host + ":" + std::to_string(port), host, port};
  }

  static MessageRecord message(std::string body_type = "7BIT") {
    MessageRecord m;
    m.id = "0123456789abcdef";
    m.envelope.mail_from = "alice@sender.test";
    m.envelope.rcpt_to = {"bob@example.test"};
    m.envelope.body_type = std::move(body_type);
    m.qos.ret = DsnReturn::headers;
    m.qos.envid = "envelope-1";
    return m;
  }

  static Delivery delivery(std::string mailbox = "bob@example.test") {
    Delivery d;
    d.message_id = "0123456789abcdef";
    d.recipient = mailbox;
    d.mailbox = std::move(mailbox);
    d.transport = "smtp";
    d.notify = NotifyRequest{true, false, true, false};
    d.original_recipient = "rfc822;" + d.mailbox;
    return d;
  }

  AttemptResult attempt(std::string_view content = kContent,
                        const MessageRecord& record = message(),
                        const Delivery& target = delivery()) {
    return transport_->attempt(record, target, MessageContent::from_text(content));
  }
  AttemptResult attempt(const MessageContent& content) {
    return transport_->attempt(message(), delivery(), content);
  }

  // Outcomes of attempts begun with start(), as their done callbacks report them.
  struct Finished {
    std::mutex mutex;
    std::vector<std::vector<AttemptResult>> results;
    std::atomic<size_t> count{0};
  };

  // Starts an attempt at `target` and returns at once; its results land in `finished`.
  void start(Finished& finished, const Delivery& target = delivery(),
             std::string content = kContent) {
    transport_->start(
        AttemptRequest{message(),
                       {target},
                       std::make_shared<const MessageContent>(MessageContent::from_text(content))},
        [&finished](std::vector<AttemptResult> results) {
          const std::lock_guard lock(finished.mutex);
          finished.results.push_back(std::move(results));
          ++finished.count;
        });
  }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
  MemoryResolver dns_;
  OutboundConfig config_;
  std::unique_ptr<SmtpTransport> transport_;
};

}  // namespace herald
