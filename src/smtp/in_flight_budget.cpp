#include "smtp/in_flight_budget.h"

#include <utility>

namespace herald {

bool InFlightBudget::try_charge(uint64_t bytes) {
  uint64_t current = in_use_.load(std::memory_order_relaxed);
  do {
    if (current + bytes > max_bytes_) return false;
  } while (!in_use_.compare_exchange_weak(current, current + bytes, std::memory_order_relaxed));
  return true;
}

void InFlightBudget::release(uint64_t bytes) {
  in_use_.fetch_sub(bytes, std::memory_order_relaxed);
}

InFlightCharge::InFlightCharge(InFlightCharge&& other) noexcept
    : budget_(other.budget_), bytes_(std::exchange(other.bytes_, 0)) {}

InFlightCharge& InFlightCharge::operator=(InFlightCharge&& other) noexcept {
  if (this != &other) {
    reset();
    budget_ = other.budget_;
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

bool InFlightCharge::grow_to(uint64_t total) {
  if (total <= bytes_) return true;
  if (budget_ && !budget_->try_charge(total - bytes_)) return false;
  bytes_ = total;
  return true;
}

void InFlightCharge::reset() {
  if (budget_ && bytes_ > 0) budget_->release(bytes_);
  bytes_ = 0;
}

}  // namespace herald
