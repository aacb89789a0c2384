// The disk-space watch behind `[queue] min_free_space`: while a file system heraldd writes
// to (the store, the mailboxes) has less free space than that, new SMTP transactions are
// refused with 452 4.3.1 (SessionSettings::storage_low), so that the disk fills up with
// refusals instead of with failed commits after whole messages were sent.
#pragma once

#include <sys/statvfs.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace herald {

// statvfs(3)'s signature, so that tests can say how full a disk is.
using StatvfsFunction = std::function<int(const char* path, struct statvfs* out)>;

// One checked path as the last check() saw it.
struct FreeSpaceReading {
  std::filesystem::path path;
  // What an unprivileged writer may use, at the last successful reading; none: never read.
  std::optional<uint64_t> free_bytes;
  int error = 0;     // errno of the last check's statvfs; 0: it succeeded
  bool low = false;  // below the minimum at the last successful reading
};

class FreeSpaceMonitor {
 public:
  // Watches `paths` (each on a file system of its own: see distinct_file_systems()) against
  // `min_free_bytes` (> 0) and keeps `storage_low` set while any of them is below it.
  // `storage_low` must outlive the monitor; sessions read it from any thread. Does no I/O.
  FreeSpaceMonitor(std::vector<std::filesystem::path> paths, uint64_t min_free_bytes,
                   std::atomic<bool>& storage_low, StatvfsFunction statvfs_function = ::statvfs);
  ~FreeSpaceMonitor();
  FreeSpaceMonitor(const FreeSpaceMonitor&) = delete;
  FreeSpaceMonitor& operator=(const FreeSpaceMonitor&) = delete;

  // Reads every path once and updates `storage_low`. Logs a warning when a path goes below
  // the minimum (naming it, its free and the required bytes) and an info line when it is back
  // above; nothing while a state lasts. A path that cannot be read keeps its last state (a
  // failing probe is no reason to refuse or to accept mail) and is logged once until it can
  // be read again; it also keeps its last reading for headroom(). Not thread-safe: call from one
  // thread at a time (start() calls it on the io_context, one run at a time).
  void check();

  // Checks once now, then every `interval` on a timer of `io` until the monitor is destroyed
  // (destroy it once `io` no longer runs, before `io` itself). Call once.
  void start(boost::asio::io_context& io, std::chrono::milliseconds interval);

  const std::vector<FreeSpaceReading>& readings() const { return readings_; }
  // The octets free above the minimum on the fullest path read (0 while one is low; the
  // largest value before any was read), as of the last check(). Sessions read it from any
  // thread (SessionSettings::storage_headroom).
  const std::atomic<uint64_t>& headroom() const { return headroom_; }

 private:
  struct Timer;
  void check_path(FreeSpaceReading& reading);
  void schedule();

  std::vector<FreeSpaceReading> readings_;
  uint64_t min_free_bytes_;
  std::atomic<bool>& storage_low_;
  std::atomic<uint64_t> headroom_{UINT64_MAX};
  StatvfsFunction statvfs_;
  std::unique_ptr<Timer> timer_;
};

// `paths` less those on the same file system (st_dev) as one listed before them, and less those
// that do not exist (yet): a directory made later is made on its parent's file system, so list
// the parent first. Blocks on stat().
std::vector<std::filesystem::path> distinct_file_systems(
    const std::vector<std::filesystem::path>& paths);

}  // namespace herald
