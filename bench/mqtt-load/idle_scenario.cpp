// run_idle(): many connections that do nothing, for the broker's memory per connection.
#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/serialize.hpp>
#include <boost/system/system_error.hpp>
#include <iostream>
#include <map>
#include <memory>

#include "async_tools.h"
#include "load_client.h"
#include "pubsub.h"
#include "scenarios.h"

namespace herald::bench {
namespace {

struct IdleSide {
  std::vector<tcp::socket> held;             // connections whose CONNACK said success
  std::map<std::string, uint64_t> failures;  // "stage: what happened" → count
  uint64_t failed = 0;

  void fail(const std::string& what) {
    ++failures[what];
    ++failed;
  }
};

// One connection: TCP connect, CONNECT, CONNACK, all within `timeout` (a watchdog closes the
// client past it; it holds the client weakly, so it never touches one that is gone).
asio::awaitable<void> open_one(IdleSide& side, const CommonOptions& common,
                               const IdleScenario& scenario, tcp::endpoint server, size_t index) {
  auto executor = co_await asio::this_coro::executor;
  auto client = std::make_shared<LoadClient>(executor, common.version, 512);
  auto timed_out = std::make_shared<bool>(false);
  asio::steady_timer timer(executor,
                           std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(scenario.connect_timeout_seconds)));
  timer.async_wait([weak = std::weak_ptr<LoadClient>(client), timed_out](auto error) {
    if (error) return;
    *timed_out = true;
    if (auto alive = weak.lock()) alive->close();
  });
  const char* stage = "connect";
  std::optional<asio::ip::address> source;
  if (!scenario.sources.empty()) source = scenario.sources[index % scenario.sources.size()];
  try {
    co_await client->connect(server, source);
    stage = "connack";
    SessionRequest request;
    request.client_id = fmt::format("hb-idle-{}-{}", ::getpid(), index);
    request.keep_alive = scenario.keep_alive;
    co_await client->handshake(request);
    side.held.push_back(client->release_socket());
  } catch (const ClientError& error) {
    side.fail(fmt::format("{}: {}", stage, error.what()));
  } catch (const boost::system::system_error& error) {
    side.fail(fmt::format("{}: {}", stage, *timed_out ? "timed out" : error.code().message()));
  }
  timer.cancel();
}

// A held connection is still open when reading it would block: no data, no end of stream.
uint64_t count_alive(std::vector<tcp::socket>& sockets) {
  uint64_t alive = 0;
  for (tcp::socket& socket : sockets) {
    boost::system::error_code error;
    socket.non_blocking(true, error);
    char byte;
    socket.read_some(asio::buffer(&byte, 1), error);
    if (error == asio::error::would_block) ++alive;
  }
  return alive;
}

boost::json::object counts(const IdleSide& side, const IdleScenario& scenario,
                           double connect_seconds) {
  boost::json::object out;
  out["scenario"] = "idle";
  out["connections"] = scenario.connections;
  out["sources"] = scenario.sources.size();
  out["connected"] = side.held.size();
  out["failed"] = side.failed;
  boost::json::object failures;
  for (const auto& [what, count] : side.failures) failures[what] = count;
  out["failures"] = std::move(failures);
  out["connect_seconds"] = connect_seconds;
  out["keep_alive"] = scenario.keep_alive;
  return out;
}

asio::awaitable<boost::json::object> hold_idle(IdleSide& side, const CommonOptions& common,
                                               const IdleScenario& scenario, tcp::endpoint server) {
  const Clock::time_point start = Clock::now();
  side.held.reserve(scenario.connections);
  co_await for_each_bounded(scenario.connections, common.connect_concurrency,
                            [&](size_t i) { return open_one(side, common, scenario, server, i); });
  const double connect_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  boost::json::object out = counts(side, scenario, connect_seconds);
  boost::json::object progress = out;
  progress["phase"] = "holding";
  progress["hold_seconds"] = scenario.hold_seconds;
  std::cout << boost::json::serialize(progress) << std::endl;
  asio::steady_timer hold(co_await asio::this_coro::executor,
                          std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(scenario.hold_seconds)));
  co_await hold.async_wait(asio::use_awaitable);
  const uint64_t alive = count_alive(side.held);
  out["hold_seconds"] = scenario.hold_seconds;
  out["alive_after_hold"] = alive;
  out["dropped_during_hold"] = side.held.size() - alive;
  side.held.clear();
  co_return out;
}

}  // namespace

uint64_t raise_file_limit(uint64_t needed) {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur >= needed) return limit.rlim_cur;
  rlimit wanted = limit;
  wanted.rlim_cur = needed;
  wanted.rlim_max = std::max<rlim_t>(limit.rlim_max, needed);
  if (::setrlimit(RLIMIT_NOFILE, &wanted) != 0) {
    // Without the privilege to raise the hard limit, as far as it goes.
    wanted.rlim_cur = limit.rlim_max;
    wanted.rlim_max = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &wanted);
  }
  ::getrlimit(RLIMIT_NOFILE, &limit);
  return limit.rlim_cur;
}

boost::json::object run_idle(const CommonOptions& common, const IdleScenario& scenario) {
  const uint64_t file_limit = raise_file_limit(scenario.connections + 100);
  const tcp::endpoint server(asio::ip::make_address(common.host), common.port);
  asio::io_context io(1);
  IdleSide side;
  auto done = asio::co_spawn(io, hold_idle(side, common, scenario, server), asio::use_future);
  io.run();
  boost::json::object out = done.get();
  out["file_limit"] = file_limit;
  return out;
}

}  // namespace herald::bench
