// run_messages(): the subscribers on one io thread, the publisher on another, so that neither
// role's CPU limits the other's (the broker under test has the machine's other cycles).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <future>
#include <memory>
#include <thread>

#include "async_tools.h"
#include "load_client.h"
#include "pubsub.h"
#include "scenarios.h"

namespace herald::bench {
namespace {

constexpr auto kWatchdogTick = std::chrono::milliseconds(50);

std::string default_topic() {
  return fmt::format("bench/{}", ::getpid());
}

// One io_context on a thread of its own, stopped and joined on destruction.
class IoThread {
 public:
  IoThread() : guard_(asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~IoThread() {
    guard_.reset();
    thread_.join();
  }
  asio::io_context& io() { return io_; }

 private:
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread thread_;
};

// Waits for `future` until `deadline`; past it, runs `cancel` on `io` (closing the sockets
// the work waits on, which ends it at once) and waits for it to end. Returns whether the
// deadline passed.
template <typename T, typename Cancel>
bool wait_or_cancel(std::future<T>& future, Clock::time_point deadline, asio::io_context& io,
                    Cancel cancel) {
  if (future.wait_until(deadline) == std::future_status::ready) return false;
  asio::post(io, cancel);
  future.wait();
  return true;
}

// Everything the subscriber thread owns during a run; read by the main thread only after the
// futures of that thread's work are ready.
struct SubscriberSide {
  std::vector<std::unique_ptr<LoadClient>> clients;
  std::vector<uint64_t> counts;  // messages each subscriber received
  Reception reception;
  std::string error;     // the first failure other than the watchdog's closing
  std::string ended_by;  // set when the watchdog ended the run
  // MQTT 5 3.2.2.3.2: the session expiry the broker granted the first subscriber (CONNACK's,
  // or what was asked when it says none); a persistent run is only one if this is above 0.
  std::optional<uint32_t> granted_session_expiry;
  std::optional<Clock::time_point> publisher_done;  // set on this thread by the main thread
  bool all_done = false;

  void note(std::string_view what) {
    if (error.empty()) error = what;
  }
  void close_all() {
    for (auto& client : clients) client->close();
  }
};

SessionRequest subscriber_request(const MessageScenario& scenario, size_t index) {
  SessionRequest request;
  // Unique per run and process: a persistent session of an earlier run must not be resumed.
  request.client_id = fmt::format("hb-sub-{}-{}", ::getpid(), index);
  if (scenario.persistent) {
    request.clean_start = false;
    request.session_expiry = 3600;
  }
  return request;
}

asio::awaitable<void> connect_subscribers(SubscriberSide& side, const CommonOptions& common,
                                          const MessageScenario& scenario, tcp::endpoint server) {
  auto executor = co_await asio::this_coro::executor;
  const size_t read_size = scenario.subscribers > 1 ? 16 * 1024 : 256 * 1024;
  for (size_t i = 0; i < scenario.subscribers; ++i) {
    side.clients.push_back(std::make_unique<LoadClient>(executor, common.version, read_size));
  }
  side.counts.assign(scenario.subscribers, 0);
  co_await for_each_bounded(
      scenario.subscribers, common.connect_concurrency, [&](size_t i) -> asio::awaitable<void> {
        try {
          co_await side.clients[i]->connect(server, std::nullopt);
          const SessionRequest request = subscriber_request(scenario, i);
          const mqtt::Connack connack = co_await side.clients[i]->handshake(request);
          if (i == 0 && common.version == mqtt::ProtocolVersion::v5) {
            side.granted_session_expiry =
                connack.properties.session_expiry_interval.value_or(request.session_expiry);
          }
          co_await side.clients[i]->subscribe(common.topic, scenario.qos);
        } catch (const std::exception& error) {
          side.note(fmt::format("subscriber {}: {}", i, error_text(error)));
          side.clients[i]->close();
        }
      });
}

// A subscriber's end: DISCONNECT, with session expiry 0 for a persistent MQTT 5 session
// (MQTT 5 3.14.2.2.2) so that the broker does not keep it after the run.
asio::awaitable<void> leave(LoadClient& client, bool persistent) {
  mqtt::Disconnect disconnect;
  if (persistent && client.version() == mqtt::ProtocolVersion::v5) {
    disconnect.properties.session_expiry_interval = 0;
  }
  co_await client.send(disconnect);
  client.close();
}

asio::awaitable<void> receive_all(SubscriberSide& side, const MessageScenario& scenario) {
  auto executor = co_await asio::this_coro::executor;
  auto left = std::make_shared<size_t>(side.clients.size());
  auto finished = std::make_shared<Signal>(executor);
  for (size_t i = 0; i < side.clients.size(); ++i) {
    asio::co_spawn(
        executor,
        [&side, &scenario, i]() -> asio::awaitable<void> {
          LoadClient& client = *side.clients[i];
          try {
            if (!client.is_open()) co_return;
            co_await receive(client, scenario.messages, side.reception, side.counts[i]);
            co_await leave(client, scenario.persistent);
          } catch (const std::exception& error) {
            if (client.is_open()) side.note(fmt::format("subscriber {}: {}", i, error_text(error)));
            client.close();
          }
        },
        [left, finished](std::exception_ptr) {
          if (--*left == 0) finished->notify();
        });
  }
  while (*left > 0) co_await finished->wait();
  side.all_done = true;
}

// Ends the run when it can only wait: `quiet` after the publisher finished (and after the
// last message) with nothing arriving, or at the deadline.
asio::awaitable<void> watchdog(SubscriberSide& side, Clock::duration quiet,
                               Clock::time_point deadline) {
  asio::steady_timer tick(co_await asio::this_coro::executor);
  while (!side.all_done) {
    tick.expires_after(kWatchdogTick);
    co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
    const Clock::time_point now = Clock::now();
    const bool quiet_now =
        side.publisher_done && now - std::max(*side.publisher_done, side.reception.last) > quiet;
    if (!side.all_done && (quiet_now || now > deadline)) {
      side.ended_by = quiet_now ? "quiet after the publisher finished" : "deadline";
      side.close_all();
      co_return;
    }
  }
}

asio::awaitable<PublishReport> connect_and_publish(LoadClient& client, tcp::endpoint server,
                                                   PublishPlan plan) {
  SessionRequest request;
  request.client_id = fmt::format("hb-pub-{}", ::getpid());
  co_await client.connect(server, std::nullopt);
  const mqtt::Connack connack = co_await client.handshake(request);
  co_return co_await publish(client, connack, std::move(plan));
}

boost::json::object latency_summary(std::vector<int64_t> ns) {
  boost::json::object out;
  if (ns.empty()) return out;
  std::sort(ns.begin(), ns.end());
  const auto at = [&](double q) {
    const size_t index = std::min(ns.size() - 1, static_cast<size_t>(q * ns.size()));
    return static_cast<double>(ns[index]) / 1000.0;
  };
  double sum = 0;
  for (int64_t v : ns) sum += static_cast<double>(v);
  out["p50_us"] = at(0.50);
  out["p99_us"] = at(0.99);
  out["max_us"] = static_cast<double>(ns.back()) / 1000.0;
  out["mean_us"] = sum / static_cast<double>(ns.size()) / 1000.0;
  return out;
}

boost::json::object report(const CommonOptions& common, const MessageScenario& scenario,
                           const SubscriberSide& side, const PublishReport& published,
                           const std::string& publisher_error) {
  boost::json::object out;
  out["scenario"] = scenario.name;
  out["protocol"] = common.version == mqtt::ProtocolVersion::v5 ? "5" : "3.1.1";
  out["qos"] = static_cast<int>(scenario.qos);
  out["messages"] = scenario.messages;
  out["size"] = scenario.payload_size;
  out["subscribers"] = scenario.subscribers;
  out["persistent"] = scenario.persistent;
  if (scenario.rate > 0) out["rate"] = scenario.rate;
  if (side.granted_session_expiry) out["session_expiry_granted"] = *side.granted_session_expiry;
  out["window"] = published.window;
  out["broker_receive_maximum"] = published.broker_receive_maximum;
  out["sent"] = published.sent;
  out["acked"] = published.acked;
  boost::json::object failed;
  for (const auto& [reason, count] : published.failed_acks) {
    failed[fmt::format("0x{:02X}", reason)] = count;
  }
  out["failed_acks"] = std::move(failed);
  out["resent"] = published.resent;
  out["publish_seconds"] = published.seconds;
  const Reception& r = side.reception;
  out["received"] = r.received;
  out["expected"] = scenario.messages * scenario.subscribers;
  const auto [least, most] = std::minmax_element(side.counts.begin(), side.counts.end());
  out["least_per_subscriber"] = side.counts.empty() ? 0 : *least;
  out["most_per_subscriber"] = side.counts.empty() ? 0 : *most;
  out["complete"] = !side.counts.empty() && *least == scenario.messages;
  out["out_of_order"] = r.out_of_order;
  const double span = std::chrono::duration<double>(r.last - r.first).count();
  out["receive_seconds"] = span;
  // Messages after the first over the time since it came: the rate the subscribers saw.
  out["received_per_second"] = r.received > 1 && span > 0 ? (r.received - 1) / span : 0.0;
  if (scenario.latencies) out["latency"] = latency_summary(r.latencies_ns);
  std::string error = publisher_error.empty() ? side.error : publisher_error;
  out["ended_by"] = !side.ended_by.empty() ? side.ended_by
                    : error.empty()        ? "every message received"
                                           : "error";
  if (!error.empty()) out["error"] = error;
  return out;
}

}  // namespace

boost::json::object run_messages(const CommonOptions& given, const MessageScenario& scenario) {
  CommonOptions common = given;
  if (common.topic.empty()) common.topic = default_topic();
  const tcp::endpoint server(asio::ip::make_address(common.host), common.port);
  const Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(common.timeout_seconds));
  SubscriberSide side;
  side.reception.keep_latencies = scenario.latencies;
  if (scenario.latencies) side.reception.latencies_ns.reserve(scenario.messages);
  PublishReport published;
  std::string publisher_error;
  {
    IoThread subscribers, publisher;
    auto connected = asio::co_spawn(
        subscribers.io(), connect_subscribers(side, common, scenario, server), asio::use_future);
    if (wait_or_cancel(connected, deadline, subscribers.io(), [&] { side.close_all(); })) {
      side.note("deadline while connecting the subscribers");
    }
    auto received = asio::co_spawn(subscribers.io(), receive_all(side, scenario), asio::use_future);
    const auto quiet = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(common.quiet_seconds));
    asio::co_spawn(subscribers.io(), watchdog(side, quiet, deadline), asio::detached);

    LoadClient publishing(publisher.io().get_executor(), common.version);
    const PublishPlan plan{.topic = common.topic,
                           .qos = scenario.qos,
                           .messages = scenario.messages,
                           .payload_size = scenario.payload_size,
                           .window = scenario.window,
                           .rate = scenario.rate,
                           .resend_refused = scenario.resend_refused};
    if (side.error.empty()) {
      auto sent = asio::co_spawn(publisher.io(), connect_and_publish(publishing, server, plan),
                                 asio::use_future);
      const bool late = wait_or_cancel(sent, deadline, publisher.io(), [&] { publishing.close(); });
      try {
        published = sent.get();
        if (!published.error.empty()) publisher_error = "publisher: " + published.error;
      } catch (const std::exception& error) {
        publisher_error = "publisher: " + error_text(error);
      }
      if (late) {
        publisher_error =
            fmt::format("the deadline ({} s) passed while publishing", common.timeout_seconds);
      }
    } else {
      asio::post(subscribers.io(), [&] { side.close_all(); });
    }
    asio::post(subscribers.io(), [&] { side.publisher_done = Clock::now(); });
    received.wait();  // the watchdog ends it by the deadline at the latest
    // The sockets must go on their own thread, before their io_context does.
    asio::post(subscribers.io(), asio::use_future([&] { side.clients.clear(); })).wait();
  }
  return report(common, scenario, side, published, publisher_error);
}

}  // namespace herald::bench
