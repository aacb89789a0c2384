// A value that is replaced whole while readers use it: what a SIGHUP reload swaps in
// (server/config_reload.h). Readers take a shared_ptr to the current value and keep it for
// as long as they need a consistent view (a session keeps the one it started with); the
// old value goes when its last reader lets it go.
#pragma once

#include <atomic>
#include <memory>

namespace herald {

template <typename T>
class Swappable {
 public:
  // `initial` must not be null.
  explicit Swappable(std::shared_ptr<const T> initial) : current_(std::move(initial)) {}
  Swappable(const Swappable&) = delete;
  Swappable& operator=(const Swappable&) = delete;

  // Thread-safe, never null. A reference-count increment under the atomic's own short spin
  // (libstdc++), never behind a reload's work: a reload builds its value first and then
  // only swaps the pointer.
  std::shared_ptr<const T> current() const noexcept { return current_.load(); }

  // Thread-safe. Readers that took the old value keep it; the next current() sees `next`.
  // `next` must not be null.
  void replace(std::shared_ptr<const T> next) noexcept { current_.store(std::move(next)); }

 private:
  std::atomic<std::shared_ptr<const T>> current_;
};

}  // namespace herald
