// The global budget for message content held in memory ([limits] max_bytes_in_flight): every
// session's DATA/BDAT content is charged to it as its buffer grows, so that many large
// transfers at once are refused (452 4.3.1) instead of growing heraldd past the machine.
#pragma once

#include <atomic>
#include <cstdint>

namespace herald {

// Thread-safe: one budget serves every session of every listener.
class InFlightBudget {
 public:
  explicit InFlightBudget(uint64_t max_bytes) : max_bytes_(max_bytes) {}

  // Takes `bytes` if they fit beside what is charged already; false (nothing taken) if not.
  bool try_charge(uint64_t bytes);
  void release(uint64_t bytes);

  // True when nothing more fits: a new transfer is refused before it starts.
  bool exhausted() const { return in_use() >= max_bytes_; }
  uint64_t in_use() const { return in_use_.load(std::memory_order_relaxed); }

 private:
  const uint64_t max_bytes_;
  std::atomic<uint64_t> in_use_{0};
};

// What one message's content holds of the budget; given back when the charge is destroyed
// or reset. Movable, so it travels with the content it stands for. Without a budget (null)
// every charge succeeds: nothing is counted.
class InFlightCharge {
 public:
  InFlightCharge() = default;
  explicit InFlightCharge(InFlightBudget* budget) : budget_(budget) {}
  InFlightCharge(InFlightCharge&& other) noexcept;
  InFlightCharge& operator=(InFlightCharge&& other) noexcept;
  InFlightCharge(const InFlightCharge&) = delete;
  InFlightCharge& operator=(const InFlightCharge&) = delete;
  ~InFlightCharge() { reset(); }

  // Raises the charge to `total` bytes; false, with the charge unchanged, when the budget
  // cannot give the difference. A lower `total` changes nothing.
  bool grow_to(uint64_t total);
  void reset();
  uint64_t bytes() const { return bytes_; }

 private:
  InFlightBudget* budget_ = nullptr;
  uint64_t bytes_ = 0;
};

}  // namespace herald
