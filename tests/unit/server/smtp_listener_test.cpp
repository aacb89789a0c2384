// The SMTP listener and connection over real loopback sockets, with an in-memory store:
// what the wire carries, what gets committed, and how sessions end.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <map>
#include <mutex>
#include <thread>

#include "server/listener.h"
#include "server/tls_context.h"

namespace herald {
namespace {

using namespace std::chrono_literals;

// Keeps what is committed in memory; can be told to fail like a full disk.
class MemoryStore final : public Store {
 public:
  void commit_message(const MessageRecord& message, const ContentToCommit& content,
                      const std::vector<Delivery>& deliveries,
                      const std::vector<LedgerEvent>& events) override {
    std::lock_guard lock(mutex_);
    if (failing_) throw StoreError("disk full");
    messages_[message.id] = message;
    // The pieces written ahead, then the rest: the content as the session sent it.
    std::string body;
    for (uint32_t i = 0; i < content.pieces_written; ++i) body += pieces_.at({message.id, i});
    body += content.rest;
    contents_[message.id] = content.header + body;
    deliveries_[message.id] = deliveries;
    ledgers_[message.id] = events;
  }
  void update_delivery(const Delivery&, const std::vector<LedgerEvent>&) override {}
  void append_event(std::string_view, const LedgerEvent&) override {}
  std::optional<MessageRecord> message(std::string_view id) override {
    std::lock_guard lock(mutex_);
    const auto it = messages_.find(std::string(id));
    if (it == messages_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<MessageContent> content(std::string_view id) override {
    std::lock_guard lock(mutex_);
    const auto it = contents_.find(std::string(id));
    if (it == contents_.end()) return std::nullopt;
    return MessageContent::from_text(it->second);
  }
  void write_body_piece(std::string_view id, uint32_t index, std::string_view piece) override {
    std::lock_guard lock(mutex_);
    if (failing_) throw StoreError("disk full");
    pieces_[{std::string(id), index}] = std::string(piece);
  }
  std::optional<std::string> body_piece(std::string_view id, uint32_t index) override {
    std::lock_guard lock(mutex_);
    const auto it = pieces_.find({std::string(id), index});
    if (it == pieces_.end()) return std::nullopt;
    return it->second;
  }
  void discard_body(std::string_view id, uint32_t pieces) override {
    std::lock_guard lock(mutex_);
    for (uint32_t i = 0; i < pieces; ++i) pieces_.erase({std::string(id), i});
  }
  std::vector<Delivery> deliveries(std::string_view id) override {
    std::lock_guard lock(mutex_);
    return deliveries_[std::string(id)];
  }
  std::vector<LedgerEvent> ledger(std::string_view id) override {
    std::lock_guard lock(mutex_);
    return ledgers_[std::string(id)];
  }
  void apply(const StoreWrite&) override {}
  std::vector<DueDelivery> due_deliveries(const DuePosition&, TimePoint, size_t) override {
    return {};
  }
  std::vector<Delivery> unfinished_deliveries(const std::optional<DeliveryKey>&, size_t) override {
    return {};
  }
  std::vector<DamagedRecord> damaged_records(size_t) override { return {}; }
  size_t remove_finished(TimePoint, size_t) override { return 0; }
  void for_each_message(const std::function<bool(const MessageRecord&)>&) override {}
  // No MQTT state: the SMTP listener never writes any.
  void for_each_mqtt_session(const std::function<bool(const MqttSessionRecord&)>&) override {}
  std::vector<MqttInboundMark> mqtt_inbound(std::string_view) override { return {}; }
  std::vector<RetainedMessage> retained(std::string_view, std::string_view, size_t) override {
    return {};
  }

  void fail() {
    std::lock_guard lock(mutex_);
    failing_ = true;
  }
  size_t message_count() {
    std::lock_guard lock(mutex_);
    return messages_.size();
  }

 private:
  std::mutex mutex_;
  bool failing_ = false;
  std::map<std::string, MessageRecord> messages_;
  std::map<std::string, std::string> contents_;
  std::map<std::pair<std::string, uint32_t>, std::string> pieces_;
  std::map<std::string, std::vector<Delivery>> deliveries_;
  std::map<std::string, std::vector<LedgerEvent>> ledgers_;
};

// Counts attempts: proof that the connection handed committed deliveries to the queue.
class CountingTransport final : public Transport {
 public:
  AttemptResult attempt(const MessageRecord&, const Delivery&, const MessageContent&) override {
    ++attempts;
    AttemptResult result;
    result.outcome = AttemptResult::Outcome::delivered;
    result.reply = "delivered";
    return result;
  }
  std::atomic<int> attempts{0};
};

// A blocking test client, plain or TLS; every read gives up after a few seconds.
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~Client() {
    if (ssl_) SSL_free(ssl_);
    if (tls_) SSL_CTX_free(tls_);
    if (fd_ >= 0) ::close(fd_);
  }

  bool connected() const { return connected_; }

  void send(std::string_view data) {
    if (ssl_) {
      SSL_write(ssl_, data.data(), static_cast<int>(data.size()));
    } else {
      ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    }
  }

  // One reply line with its CRLF; "" at end of stream or timeout.
  std::string line() {
    for (;;) {
      const size_t lf = buffer_.find('\n');
      if (lf != std::string::npos) {
        std::string out = buffer_.substr(0, lf + 1);
        buffer_.erase(0, lf + 1);
        return out;
      }
      char chunk[4096];
      const long n =
          ssl_ ? SSL_read(ssl_, chunk, sizeof chunk) : ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return "";
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  // A whole (possibly multi-line) reply.
  std::string reply() {
    std::string out;
    for (;;) {
      const std::string l = line();
      out += l;
      if (l.size() < 4 || l[3] != '-') return out;
    }
  }

  bool start_tls() {
    buffer_.clear();
    tls_ = SSL_CTX_new(TLS_client_method());
    ssl_ = SSL_new(tls_);
    SSL_set_fd(ssl_, fd_);
    return SSL_connect(ssl_) == 1;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string buffer_;
  SSL_CTX* tls_ = nullptr;
  SSL* ssl_ = nullptr;
};

class SmtpListenerTest : public ::testing::Test {
 protected:
  void start(std::string_view limits_toml = "") {
    data_dir_ = std::filesystem::temp_directory_path() /
                ("herald-listener-test-" + std::to_string(::getpid()));
    config_ = parse_config(std::string(R"(
[server]
hostname = "mx.example.test"
data_dir = ")") + data_dir_.string() +
                               R"("
[[listen]]
address = "127.0.0.1:1"
[[domain]]
name = "example.test"
[[user]]
address = "alice@example.test"
[limits]
)" + std::string(limits_toml),
                           "/tmp/test.toml");
    settings_.hostname = config_.server.hostname;
    settings_.limits = config_.limits;
    settings_.postmaster = "postmaster@example.test";
    resources_ =
        std::make_unique<Swappable<SessionResources>>(std::make_shared<const SessionResources>(
            SessionResources{std::make_shared<const Directory>(config_),
                             make_server_tls_context(ensure_tls_files(config_))}));
    queue_ = std::make_unique<QueueRunner>(
        store_, transport_, nullptr, clock_,
        QueueRunnerSettings{config_.queue, {}, "mx.example.test", [](std::string_view) {
                              return std::vector<NoticeTarget>{};
                            }});
    queue_->start();
    services_ =
        std::make_unique<SmtpServices>(SmtpServices{settings_, *resources_, clock_, store_, *queue_,
                                                    commit_pool_.get_executor(), auth_limiter_});
    registry_ = std::make_unique<ConnectionRegistry>(config_.limits.max_connections,
                                                     config_.limits.max_connections_per_ip);
    ListenConfig listen;
    listen.host = "127.0.0.1";
    listen.port = 0;
    listener_settings_ = std::make_unique<Swappable<SessionSettings>>(
        std::make_shared<const SessionSettings>(settings_));
    listener_ =
        std::make_unique<Listener>(io_, listen, *listener_settings_, *services_, *registry_);
    listener_->start();
    const std::string& address = listener_->address();
    port_ = static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
    io_thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    if (listener_) listener_->stop();
    if (registry_) {
      registry_->shutdown_all();
      registry_->wait_until_empty(5s);
    }
    work_.reset();
    io_.stop();
    if (io_thread_.joinable()) io_thread_.join();
    commit_pool_.join();
    if (queue_) queue_->stop();
    std::filesystem::remove_all(data_dir_);
  }

  // Waits (boundedly) until every session has ended.
  bool sessions_ended() { return registry_->wait_until_empty(5s); }

  std::filesystem::path data_dir_;
  Config config_;
  SessionSettings settings_;
  std::unique_ptr<Swappable<SessionResources>> resources_;
  SystemClock clock_;
  AuthFailureLimiter auth_limiter_{clock_, 5, std::chrono::minutes(15)};
  MemoryStore store_;
  CountingTransport transport_;
  std::unique_ptr<QueueRunner> queue_;
  boost::asio::thread_pool commit_pool_{2};
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ =
      boost::asio::make_work_guard(io_);
  std::unique_ptr<SmtpServices> services_;
  std::unique_ptr<Swappable<SessionSettings>> listener_settings_;  // what a reload replaces
  std::unique_ptr<ConnectionRegistry> registry_;
  std::unique_ptr<Listener> listener_;
  std::thread io_thread_;
  uint16_t port_ = 0;
};

TEST_F(SmtpListenerTest, PipelinedTransactionIsCommittedQueuedAndAnsweredInOrder) {
  start();
  Client client(port_);
  ASSERT_TRUE(client.connected());
  EXPECT_EQ(client.line(), "220 mx.example.test ESMTP herald\r\n");
  client.send(
      "EHLO client.example\r\nMAIL FROM:<a@client.example>\r\nRCPT TO:<alice@example.test>\r\n"
      "DATA\r\nSubject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n");
  EXPECT_EQ(client.reply().substr(0, 4), "250-");
  EXPECT_EQ(client.reply(), "250 2.1.0 Sender OK\r\n");
  EXPECT_EQ(client.reply(), "250 2.1.5 Recipient OK\r\n");
  EXPECT_EQ(client.reply(), "354 End data with <CR><LF>.<CR><LF>\r\n");
  const std::string queued = client.reply();
  ASSERT_EQ(queued.substr(0, 20), "250 2.0.0 queued as ");
  EXPECT_EQ(client.reply(), "221 2.0.0 mx.example.test closing connection\r\n");
  EXPECT_EQ(client.line(), "");

  const std::string id = queued.substr(20, 26);
  const auto stored = store_.content(id);
  ASSERT_TRUE(stored);
  const std::string content = stored->to_text();
  EXPECT_EQ(content.substr(content.find("Subject:")), "Subject: hi\r\n\r\nbody\r\n");
  EXPECT_EQ(store_.message(id)->envelope.peer_ip, "127.0.0.1");
  for (int i = 0; i < 500 && transport_.attempts == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(transport_.attempts, 1);
}

TEST_F(SmtpListenerTest, ReplacedSettingsReachNewSessionsWhileAnOpenOneKeepsItsOwn) {
  start();
  Client open(port_);
  open.line();
  open.send("EHLO client.example\r\n");
  EXPECT_NE(open.reply().find("SIZE 52428800\r\n"), std::string::npos);

  SessionSettings reloaded = settings_;
  reloaded.limits.max_message_size = 1000000;
  listener_settings_->replace(std::make_shared<const SessionSettings>(reloaded));

  Client fresh(port_);
  fresh.line();
  fresh.send("EHLO client.example\r\n");
  EXPECT_NE(fresh.reply().find("SIZE 1000000\r\n"), std::string::npos);
  open.send("EHLO client.example\r\n");
  EXPECT_NE(open.reply().find("SIZE 52428800\r\n"), std::string::npos);
}

TEST_F(SmtpListenerTest, StoreFailureAnswers451AndTheSessionGoesOn) {
  start();
  store_.fail();
  Client client(port_);
  client.line();
  client.send(
      "HELO client.example\r\nMAIL FROM:<a@client.example>\r\nRCPT TO:<alice@example.test>\r\n"
      "DATA\r\nbody\r\n.\r\nNOOP\r\n");
  for (int i = 0; i < 4; ++i) client.reply();
  EXPECT_EQ(client.reply(), "451 4.3.0 Temporary failure storing the message, try again later\r\n");
  EXPECT_EQ(client.reply(), "250 2.0.0 OK\r\n");
}

TEST_F(SmtpListenerTest, ClientThatDisconnectsDuringDataLeavesNothingStored) {
  start();
  {
    Client client(port_);
    client.line();
    client.send(
        "HELO client.example\r\nMAIL FROM:<a@client.example>\r\nRCPT TO:<alice@example.test>\r\n"
        "DATA\r\nSubject: half\r\n");
    for (int i = 0; i < 4; ++i) client.reply();
  }
  EXPECT_TRUE(sessions_ended());
  EXPECT_EQ(store_.message_count(), 0u);
}

TEST_F(SmtpListenerTest, BdatChunksArriveAsOneMessage) {
  start();
  Client client(port_);
  client.line();
  client.send(
      "EHLO client.example\r\nMAIL FROM:<a@client.example>\r\nRCPT TO:<alice@example.test>\r\n"
      "BDAT 15\r\nSubject: hi\r\n\r\nBDAT 6 LAST\r\nbody\r\n");
  for (int i = 0; i < 3; ++i) client.reply();
  EXPECT_EQ(client.reply(), "250 2.0.0 15 octets received\r\n");
  EXPECT_EQ(client.reply().substr(0, 20), "250 2.0.0 queued as ");
  EXPECT_EQ(store_.message_count(), 1u);
}

TEST_F(SmtpListenerTest, OverlongCommandLineIsRefusedAndTheNextOneWorks) {
  start();
  Client client(port_);
  client.line();
  client.send("NOOP " + std::string(5000, 'x') + "\r\nNOOP\r\n");
  EXPECT_EQ(client.reply(), "500 5.5.2 Line too long\r\n");
  EXPECT_EQ(client.reply(), "250 2.0.0 OK\r\n");
}

TEST_F(SmtpListenerTest, CommandLineEndingInBareLfIsAccepted) {
  start();
  Client client(port_);
  client.line();
  client.send("NOOP\n");
  EXPECT_EQ(client.reply(), "250 2.0.0 OK\r\n");
}

TEST_F(SmtpListenerTest, IdleClientGets421AfterTheCommandTimeout) {
  start("command_timeout = 1\n");
  Client client(port_);
  client.line();
  EXPECT_EQ(client.reply(), "421 4.4.2 mx.example.test timeout, closing connection\r\n");
  EXPECT_EQ(client.line(), "");
}

TEST_F(SmtpListenerTest, ConnectionsPastThePerAddressLimitAreTurnedAway) {
  start("max_connections_per_ip = 1\n");
  Client first(port_);
  EXPECT_EQ(first.line(), "220 mx.example.test ESMTP herald\r\n");
  Client second(port_);
  EXPECT_EQ(second.line(), "421 4.7.0 mx.example.test too many connections, try again later\r\n");
  EXPECT_EQ(second.line(), "");
}

TEST_F(SmtpListenerTest, ShutdownSends421ToSessionsWaitingForACommand) {
  start();
  Client client(port_);
  client.line();
  registry_->shutdown_all();
  EXPECT_EQ(client.reply(), "421 4.3.2 mx.example.test shutting down\r\n");
  EXPECT_TRUE(sessions_ended());
}

TEST_F(SmtpListenerTest, StarttlsDiscardsPlaintextPipelinedAfterIt) {
  start();
  Client client(port_);
  client.line();
  client.send("EHLO client.example\r\n");
  client.reply();
  // The injected MAIL must never run inside the TLS session (CVE-2011-0411).
  client.send("STARTTLS\r\nMAIL FROM:<injected@attacker.example>\r\n");
  EXPECT_EQ(client.reply(), "220 2.0.0 Ready to start TLS\r\n");
  ASSERT_TRUE(client.start_tls());
  client.send("RCPT TO:<alice@example.test>\r\n");
  EXPECT_EQ(client.reply(), "503 5.5.1 Send EHLO or HELO first\r\n");
  client.send("EHLO client.example\r\n");
  EXPECT_EQ(client.reply().find("STARTTLS"), std::string::npos);
  client.send("MAIL FROM:<a@client.example>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nx\r\n.\r\n");
  for (int i = 0; i < 3; ++i) client.reply();
  const std::string queued = client.reply();
  ASSERT_EQ(queued.substr(0, 20), "250 2.0.0 queued as ");
  const auto message = store_.message(queued.substr(20, 26));
  ASSERT_TRUE(message);
  EXPECT_EQ(message->envelope.protocol, "ESMTPS");
  EXPECT_FALSE(message->envelope.tls_cipher.empty());
}

}  // namespace
}  // namespace herald
