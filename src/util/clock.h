// The one source of "now" in herald. Deadlines, retries and expiry read time only
// through a Clock so that tests can move it instead of sleeping (DESIGN.md section 5).
#pragma once

#include <atomic>
#include <chrono>

namespace herald {

using TimePoint = std::chrono::system_clock::time_point;
using Duration = std::chrono::system_clock::duration;

// Thread-safe: now() may be called from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

// Wall-clock time; the production clock.
class SystemClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::system_clock::now(); }
};

// A clock that moves only when told to; for tests. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start) : now_(start.time_since_epoch().count()) {}
  TimePoint now() const override { return TimePoint(Duration(now_.load())); }
  void advance(Duration by) { now_ += by.count(); }
  void set(TimePoint to) { now_ = to.time_since_epoch().count(); }

 private:
  std::atomic<Duration::rep> now_;
};

// Milliseconds since the Unix epoch; the form times take in stored records.
inline int64_t to_unix_ms(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
inline TimePoint from_unix_ms(int64_t ms) {
  return TimePoint(std::chrono::duration_cast<Duration>(std::chrono::milliseconds(ms)));
}

}  // namespace herald
