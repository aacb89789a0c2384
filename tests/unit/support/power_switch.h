// When power fails in the tests' power-loss models (store/power_loss_file_system.h,
// transport/power_loss_maildir_files.h): after a set number of changing calls, or at once.
// Thread-safe: every call may come from any thread.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>

namespace herald::test_support {

class PowerSwitch {
 public:
  // Power fails after `operations` more changing calls.
  void fail_after(uint64_t operations) {
    std::lock_guard lock(mutex_);
    remaining_ = operations;
  }
  void fail_now() {
    std::lock_guard lock(mutex_);
    failed_ = true;
  }
  bool failed() const {
    std::lock_guard lock(mutex_);
    return failed_;
  }
  // Changing calls let through since power was last restored.
  uint64_t operations() const {
    std::lock_guard lock(mutex_);
    return operations_;
  }
  // Counts one changing call; false (and nothing counted) once power has failed.
  bool admit() {
    std::lock_guard lock(mutex_);
    if (failed_) return false;
    if (remaining_) {
      if (*remaining_ == 0) {
        failed_ = true;
        return false;
      }
      --*remaining_;
    }
    ++operations_;
    return true;
  }
  // Power is back: no failure, no limit, nothing counted.
  void restore() {
    std::lock_guard lock(mutex_);
    failed_ = false;
    remaining_.reset();
    operations_ = 0;
  }

 private:
  mutable std::mutex mutex_;
  bool failed_ = false;
  std::optional<uint64_t> remaining_;  // changing calls still let through; none: no limit
  uint64_t operations_ = 0;
};

}  // namespace herald::test_support
