#include "server/free_space_monitor.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>

namespace herald {

namespace asio = boost::asio;

struct FreeSpaceMonitor::Timer {
  explicit Timer(asio::io_context& io, std::chrono::milliseconds every)
      : timer(io), interval(every) {}
  asio::steady_timer timer;
  std::chrono::milliseconds interval;
};

FreeSpaceMonitor::FreeSpaceMonitor(std::vector<std::filesystem::path> paths,
                                   uint64_t min_free_bytes, std::atomic<bool>& storage_low,
                                   StatvfsFunction statvfs_function)
    : min_free_bytes_(min_free_bytes),
      storage_low_(storage_low),
      statvfs_(std::move(statvfs_function)) {
  for (std::filesystem::path& path : paths) readings_.push_back({std::move(path), {}, false});
}

FreeSpaceMonitor::~FreeSpaceMonitor() = default;

void FreeSpaceMonitor::check() {
  bool any_low = false;
  uint64_t headroom = UINT64_MAX;
  for (FreeSpaceReading& reading : readings_) {
    check_path(reading);
    any_low = any_low || reading.low;
    if (reading.free_bytes) {
      const uint64_t above =
          *reading.free_bytes > min_free_bytes_ ? *reading.free_bytes - min_free_bytes_ : 0;
      headroom = std::min(headroom, above);
    }
  }
  headroom_.store(headroom, std::memory_order_relaxed);
  storage_low_.store(any_low, std::memory_order_relaxed);
}

void FreeSpaceMonitor::check_path(FreeSpaceReading& reading) {
  struct statvfs fs {};
  if (statvfs_(reading.path.c_str(), &fs) != 0) {
    const int error = errno;
    if (reading.error == 0) {
      spdlog::warn("free space unknown path={} error=\"{}\"; keeping its last state ({})",
                   reading.path.string(), std::strerror(error), reading.low ? "low" : "enough");
    }
    reading.error = error;
    return;
  }
  reading.error = 0;
  // f_bavail, not f_bfree: the blocks reserved for root are not ours to count on even when
  // heraldd runs as root, and they are what lets an administrator clean up a full disk.
  const uint64_t block = fs.f_frsize != 0 ? fs.f_frsize : fs.f_bsize;
  const uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * block;
  reading.free_bytes = free_bytes;
  const bool low = free_bytes < min_free_bytes_;
  if (low && !reading.low) {
    spdlog::warn(
        "storage low path={} free={} required={} ([queue] min_free_space): MAIL is answered "
        "452 4.3.1 until space is freed",
        reading.path.string(), free_bytes, min_free_bytes_);
  } else if (!low && reading.low) {
    spdlog::info("storage recovered path={} free={} required={}: accepting mail again",
                 reading.path.string(), free_bytes, min_free_bytes_);
  }
  reading.low = low;
}

void FreeSpaceMonitor::start(asio::io_context& io, std::chrono::milliseconds interval) {
  // The first check runs before any listener opens, so a disk that is already full is
  // refused from the first MAIL on.
  check();
  timer_ = std::make_unique<Timer>(io, interval);
  schedule();
}

void FreeSpaceMonitor::schedule() {
  timer_->timer.expires_after(timer_->interval);
  // One wait at a time: checks never overlap, whichever io thread runs them.
  timer_->timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: the monitor is being destroyed
    check();
    schedule();
  });
}

std::vector<std::filesystem::path> distinct_file_systems(
    const std::vector<std::filesystem::path>& paths) {
  std::vector<std::filesystem::path> out;
  std::vector<dev_t> devices;
  for (const std::filesystem::path& path : paths) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) continue;
    if (std::find(devices.begin(), devices.end(), st.st_dev) != devices.end()) continue;
    devices.push_back(st.st_dev);
    out.push_back(path);
  }
  return out;
}

}  // namespace herald
