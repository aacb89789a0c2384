// Small coroutine helpers of the load generator. Everything here runs on one io_context thread;
// nothing is thread-safe.
#pragma once

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstddef>
#include <memory>

namespace herald::bench {

namespace asio = boost::asio;

// Wakes coroutines waiting for a condition that another coroutine on the same thread changes
// (the publisher's window opening when PUBACKs come). A waiter checks its condition before
// each wait(); a notify() with nobody waiting is lost, which is harmless for that reason.
class Signal {
 public:
  explicit Signal(asio::any_io_executor executor)
      : timer_(std::move(executor), asio::steady_timer::time_point::max()) {}

  asio::awaitable<void> wait() { co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable)); }
  void notify() { timer_.cancel(); }

 private:
  asio::steady_timer timer_;
};

// Awaits job(i) for every i in [0, count), at most `concurrency` at a time (connecting a
// thousand or a hundred thousand clients must not flood the broker's accept queue). `job`
// must not throw: it records its own failures. Returns when every job has ended.
template <typename Job>
asio::awaitable<void> for_each_bounded(size_t count, size_t concurrency, Job job) {
  auto executor = co_await asio::this_coro::executor;
  struct Shared {
    size_t next = 0;
    size_t workers_left = 0;
    Signal done;
  };
  auto shared = std::make_shared<Shared>(Shared{0, 0, Signal(executor)});
  const size_t workers = std::max<size_t>(1, std::min(concurrency, count));
  shared->workers_left = workers;
  for (size_t w = 0; w < workers; ++w) {
    asio::co_spawn(
        executor,
        [shared, count, &job]() -> asio::awaitable<void> {
          while (shared->next < count) co_await job(shared->next++);
        },
        [shared](std::exception_ptr) {
          if (--shared->workers_left == 0) shared->done.notify();
        });
  }
  while (shared->workers_left > 0) co_await shared->done.wait();
}

}  // namespace herald::bench
