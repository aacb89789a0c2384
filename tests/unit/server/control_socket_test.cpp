// The control socket over a real Unix-domain socket, with a QueueControl that records what
// reaches it: requests arrive with the right id, off the io thread; bad requests change
// nothing; the socket file is private and survives a crashed predecessor. `mqtt sessions`
// answers a line per session from a SessionDirectory, read back by the client.
#include "server/control_socket.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "server/control_client.h"
#include "store/store.h"
#include "support/temp_dir.h"

namespace herald {
namespace {

using test_support::TempDir;

constexpr std::string_view kId = "01KAX3V6W4S6Y5C3A7RZ2B9JQH";
constexpr std::string_view kUnknownId = "01KAX3V6W4S6Y5C3A7RZ2B9JQJ";

// Records each call; knows one message (kId, with two deliveries it changes); can be told to
// fail like a broken disk.
class RecordingQueueControl final : public QueueControl {
 public:
  struct Call {
    std::string verb;
    std::string message_id;
    std::thread::id thread;
  };

  std::optional<size_t> retry(std::string_view id) override { return record("retry", id); }
  std::optional<size_t> hold(std::string_view id) override { return record("hold", id); }
  std::optional<size_t> release(std::string_view id) override { return record("release", id); }
  std::optional<size_t> bounce(std::string_view id) override { return record("bounce", id); }

  std::vector<Call> calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  void fail_with(std::string what) {
    std::lock_guard lock(mutex_);
    failure_ = std::move(what);
  }

 private:
  std::optional<size_t> record(std::string verb, std::string_view id) {
    std::lock_guard lock(mutex_);
    calls_.push_back({std::move(verb), std::string(id), std::this_thread::get_id()});
    if (!failure_.empty()) throw StoreError(failure_);
    if (id.empty()) return 5;
    if (id == kId) return 2;
    return std::nullopt;
  }

  std::mutex mutex_;
  std::vector<Call> calls_;
  std::string failure_;
};

// Two sessions, listed as the broker would; records the limits it is asked for.
class FixedSessionDirectory final : public mqtt::SessionDirectory {
 public:
  mqtt::SessionList list_sessions(std::optional<size_t> limit) const override {
    std::lock_guard lock(mutex_);
    limits_.push_back(limit);
    threads_.push_back(std::this_thread::get_id());
    mqtt::SessionList list{.sessions = sessions, .total = sessions.size()};
    if (limit && *limit < list.sessions.size()) list.sessions.resize(*limit);
    return list;
  }

  std::vector<std::optional<size_t>> limits() const {
    std::lock_guard lock(mutex_);
    return limits_;
  }
  std::vector<std::thread::id> threads() const {
    std::lock_guard lock(mutex_);
    return threads_;
  }

  const std::vector<mqtt::SessionSnapshot> sessions = {
      {.client_id = "sensor\t1",
       .peer = "127.0.0.1:40001",
       .version = mqtt::ProtocolVersion::v5,
       .connected = from_unix_ms(1'700'000'000'123),
       .subscriptions = 2,
       .held = 3,
       .held_bytes = 300,
       .in_flight = 1},
      {.client_id = "th\u00e9o",
       .peer = "[::1]:40002",
       .version = mqtt::ProtocolVersion::v3_1_1,
       .connected = from_unix_ms(1'700'000'001'000)},
  };

 private:
  mutable std::mutex mutex_;
  mutable std::vector<std::optional<size_t>> limits_;
  mutable std::vector<std::thread::id> threads_;
};

// Sends raw bytes (optionally closing its sending half after them) and returns everything
// the server writes until it closes; gives up after a few seconds.
std::string raw_exchange(const std::filesystem::path& path, std::string_view bytes,
                         bool close_after_sending = false) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (close_after_sending) ::shutdown(fd, SHUT_WR);
    char chunk[512];
    for (long n; (n = ::recv(fd, chunk, sizeof chunk, 0)) > 0;) out.append(chunk, n);
  }
  ::close(fd);
  return out;
}

// A socket file as a killed daemon leaves it: bound, then closed without unlink.
void leave_stale_socket(const std::filesystem::path& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ::close(fd);
}

ControlResponse ok(size_t changed) {
  return ControlResponse{true, changed, ""};
}

ControlResponse error(std::string text) {
  return ControlResponse{false, 0, std::move(text)};
}

class ControlSocketTest : public ::testing::Test {
 protected:
  void start() {
    socket_ =
        std::make_unique<ControlSocket>(io_, path_, control_, sessions_, pool_.get_executor());
    socket_->start();
    io_thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    if (socket_) socket_->stop();
    work_.reset();
    io_.stop();
    if (io_thread_.joinable()) io_thread_.join();
    pool_.join();
  }

  ControlResponse send(ControlVerb verb, std::string_view id) {
    return send_control_request(path_, ControlRequest{verb, std::string(id)});
  }

  TempDir dir_;
  std::filesystem::path path_ = dir_.path() / "control.sock";
  RecordingQueueControl control_;
  FixedSessionDirectory directory_;
  const mqtt::SessionDirectory* sessions_ = &directory_;
  boost::asio::thread_pool pool_{1};
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ =
      boost::asio::make_work_guard(io_);
  std::unique_ptr<ControlSocket> socket_;
  std::thread io_thread_;
};

TEST_F(ControlSocketTest, EachVerbReachesItsQueueControlMethodWithTheIdOffTheIoThread) {
  start();
  EXPECT_EQ(send(ControlVerb::retry, kId), ok(2));
  EXPECT_EQ(send(ControlVerb::hold, kId), ok(2));
  EXPECT_EQ(send(ControlVerb::release, kId), ok(2));
  EXPECT_EQ(send(ControlVerb::bounce, kId), ok(2));

  const auto calls = control_.calls();
  ASSERT_EQ(calls.size(), 4u);
  const std::vector<std::string> verbs = {"retry", "hold", "release", "bounce"};
  for (size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].verb, verbs[i]);
    EXPECT_EQ(calls[i].message_id, kId);
    EXPECT_NE(calls[i].thread, io_thread_.get_id()) << "QueueControl ran on the io thread";
  }
}

TEST_F(ControlSocketTest, RetryAllCallsRetryWithTheEmptyId) {
  start();
  EXPECT_EQ(raw_exchange(path_, "retry --all\r\n"), "ok 5\n");
  const auto calls = control_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].verb, "retry");
  EXPECT_EQ(calls[0].message_id, "");
}

TEST_F(ControlSocketTest, UnknownMessageIsAnsweredWithAnErrorNamingIt) {
  start();
  EXPECT_EQ(send(ControlVerb::hold, kUnknownId), error("no message " + std::string(kUnknownId)));
  ASSERT_EQ(control_.calls().size(), 1u);
}

TEST_F(ControlSocketTest, StoreFailureIsAnsweredWithAnErrorSayingNothingChanged) {
  control_.fail_with("disk on fire");
  start();
  EXPECT_EQ(send(ControlVerb::bounce, kId),
            error("the store failed, nothing changed: disk on fire"));
}

TEST_F(ControlSocketTest, UnknownVerbIsRefusedAndNothingIsCalled) {
  start();
  EXPECT_EQ(raw_exchange(path_, "delete " + std::string(kId) + "\n"),
            "error unknown verb 'delete' (retry, hold, release, bounce)\n");
  EXPECT_TRUE(control_.calls().empty());
}

TEST_F(ControlSocketTest, MalformedRequestsAreRefusedAndNothingIsCalled) {
  start();
  const std::vector<std::string> requests = {"retry\n",
                                             "retry 01kax3v6w4s6y5c3a7rz2b9jqh\n",
                                             "retry " + std::string(kId) + " now\n",
                                             "bounce --all\n",
                                             "hold --all\n",
                                             "\n"};
  for (const std::string& request : requests) {
    const std::string answer = raw_exchange(path_, request);
    EXPECT_TRUE(answer.starts_with("error ")) << request << " -> " << answer;
    EXPECT_TRUE(answer.ends_with("\n") && answer.find('\n') == answer.size() - 1) << answer;
  }
  EXPECT_TRUE(control_.calls().empty());
}

TEST_F(ControlSocketTest, OversizedRequestIsRefusedAndNothingIsCalled) {
  start();
  EXPECT_EQ(raw_exchange(path_, "retry " + std::string(1000, 'A') + "\n"),
            "error request longer than 128 octets\n");
  EXPECT_TRUE(control_.calls().empty());
}

TEST_F(ControlSocketTest, RequestCutOffBeforeItsLineFeedIsRefusedAndNothingIsCalled) {
  start();
  EXPECT_EQ(raw_exchange(path_, "retry " + std::string(kId), /*close_after_sending=*/true),
            "error request ended without a line feed\n");
  EXPECT_TRUE(control_.calls().empty());
}

TEST_F(ControlSocketTest, ControlCharactersInARequestAreNotEchoed) {
  start();
  const std::string answer = raw_exchange(path_, "re\x1b[2Jtry x\n");
  EXPECT_EQ(answer, "error unknown verb 're?[2Jtry' (retry, hold, release, bounce)\n");
}

TEST_F(ControlSocketTest, SocketFileIsASocketOnlyItsOwnerMayUse) {
  start();
  struct stat st {};
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(ControlSocketTest, StaleSocketFileOfACrashedDaemonIsReplaced) {
  leave_stale_socket(path_);
  ASSERT_THROW(send(ControlVerb::retry, kId), ControlSocketUnreachable);
  start();
  EXPECT_EQ(send(ControlVerb::retry, kId), ok(2));
}

TEST_F(ControlSocketTest, OtherFileInTheWayIsLeftAloneAndStartFails) {
  std::ofstream(path_) << "not a socket";
  EXPECT_THROW(ControlSocket(io_, path_, control_, sessions_, pool_.get_executor()),
               std::runtime_error);
  std::ifstream in(path_);
  std::string content;
  std::getline(in, content);
  EXPECT_EQ(content, "not a socket");
}

TEST_F(ControlSocketTest, StopRemovesTheSocketFileAndClientsHearTheDaemonIsNotRunning) {
  start();
  socket_->stop();
  EXPECT_FALSE(std::filesystem::exists(path_));
  EXPECT_THROW(send(ControlVerb::retry, kId), ControlSocketUnreachable);
  EXPECT_TRUE(control_.calls().empty());
}

TEST_F(ControlSocketTest, MqttSessionsAreOneTabSeparatedLineEachThenTheTotal) {
  start();
  EXPECT_EQ(raw_exchange(path_, "mqtt sessions\n"),
            "sensor\\x091\t127.0.0.1:40001\t5\t2023-11-14T22:13:20.123Z\t2\t3\t300\t1\n"
            "th\u00e9o\t[::1]:40002\t3.1.1\t2023-11-14T22:13:21.000Z\t0\t0\t0\t0\n"
            "ok 2\n");
  EXPECT_EQ(raw_exchange(path_, "mqtt sessions 1\r\n"),
            "sensor\\x091\t127.0.0.1:40001\t5\t2023-11-14T22:13:20.123Z\t2\t3\t300\t1\n"
            "ok 2\n");
  EXPECT_EQ(directory_.limits(), (std::vector<std::optional<size_t>>{std::nullopt, 1}));
  for (const std::thread::id thread : directory_.threads()) {
    EXPECT_NE(thread, io_thread_.get_id()) << "the listing ran on the io thread";
  }
  EXPECT_TRUE(control_.calls().empty());
}

TEST_F(ControlSocketTest, TheClientReadsTheSessionsBack) {
  start();
  const auto answer = request_mqtt_sessions(path_, MqttSessionsRequest{});
  ASSERT_TRUE(std::holds_alternative<mqtt::SessionList>(answer));
  const auto& list = std::get<mqtt::SessionList>(answer);
  EXPECT_EQ(list.total, 2u);
  ASSERT_EQ(list.sessions.size(), 2u);
  EXPECT_EQ(list.sessions[0].client_id, "sensor\\x091") << "as escaped, never a raw tab";
  EXPECT_EQ(list.sessions[1], directory_.sessions[1]);
  const auto first = request_mqtt_sessions(path_, MqttSessionsRequest{.limit = 1});
  EXPECT_EQ(std::get<mqtt::SessionList>(first).sessions.size(), 1u);
  EXPECT_EQ(std::get<mqtt::SessionList>(first).total, 2u);
}

TEST_F(ControlSocketTest, WithoutAnMqttFaceThereAreNoSessions) {
  sessions_ = nullptr;
  start();
  EXPECT_EQ(raw_exchange(path_, "mqtt sessions\n"), "ok 0\n");
}

TEST_F(ControlSocketTest, AMalformedMqttRequestIsRefused) {
  start();
  EXPECT_EQ(raw_exchange(path_, "mqtt sessions -1\n"), "error '-1' is not a number of sessions\n");
  EXPECT_EQ(raw_exchange(path_, "mqtt clients\n"),
            "error unknown mqtt request 'clients' (mqtt sessions [LIMIT])\n");
  EXPECT_TRUE(directory_.limits().empty());
}

}  // namespace
}  // namespace herald
