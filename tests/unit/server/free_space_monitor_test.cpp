#include "server/free_space_monitor.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <map>
#include <string>

namespace herald {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

// A pretend set of file systems: free space per path, or an errno, set by each test.
struct FakeDisks {
  std::map<std::string, uint64_t> free_bytes;
  std::map<std::string, int> errors;
  int calls = 0;

  StatvfsFunction function() {
    return [this](const char* path, struct statvfs* out) {
      ++calls;
      if (auto e = errors.find(path); e != errors.end()) {
        errno = e->second;
        return -1;
      }
      *out = {};
      out->f_frsize = 4096;
      out->f_bsize = 4096;
      out->f_bavail = free_bytes.at(path) / 4096;
      // The blocks only root may use are no free space for the queue.
      out->f_bfree = out->f_bavail + 1000;
      return 0;
    };
  }
};

// Captures what the monitor logs, for the "once per change" rule.
class LogCapture {
 public:
  LogCapture()
      : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64)),
        previous_(spdlog::default_logger()) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink_));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::vector<std::string> lines() const { return sink_->last_formatted(); }
  size_t count(const std::string& text) const {
    size_t n = 0;
    for (const std::string& line : lines()) n += line.find(text) != std::string::npos;
    return n;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST(FreeSpaceMonitor, StorageIsLowOnlyWhileFreeSpaceIsBelowTheMinimum) {
  FakeDisks disks;
  disks.free_bytes["/var/herald"] = 500 * kMiB;
  std::atomic<bool> low{false};
  FreeSpaceMonitor monitor({"/var/herald"}, 100 * kMiB, low, disks.function());

  monitor.check();
  EXPECT_FALSE(low);
  disks.free_bytes["/var/herald"] = 100 * kMiB - 4096;
  monitor.check();
  EXPECT_TRUE(low);
  disks.free_bytes["/var/herald"] = 100 * kMiB;  // exactly the minimum is enough
  monitor.check();
  EXPECT_FALSE(low);
}

TEST(FreeSpaceMonitor, AnyLowFileSystemMakesStorageLow) {
  FakeDisks disks;
  disks.free_bytes["/var/herald"] = 500 * kMiB;
  disks.free_bytes["/srv/mail"] = 10 * kMiB;
  std::atomic<bool> low{false};
  FreeSpaceMonitor monitor({"/var/herald", "/srv/mail"}, 100 * kMiB, low, disks.function());

  monitor.check();
  EXPECT_TRUE(low);
  ASSERT_EQ(monitor.readings().size(), 2u);
  EXPECT_FALSE(monitor.readings()[0].low);
  EXPECT_TRUE(monitor.readings()[1].low);
  EXPECT_EQ(monitor.readings()[1].free_bytes, 10 * kMiB);

  disks.free_bytes["/srv/mail"] = 200 * kMiB;
  monitor.check();
  EXPECT_FALSE(low);
}

TEST(FreeSpaceMonitor, LogsOnceWhenSpaceGoesLowAndOnceWhenItRecovers) {
  LogCapture log;
  FakeDisks disks;
  disks.free_bytes["/var/herald"] = 50 * kMiB;
  std::atomic<bool> low{false};
  FreeSpaceMonitor monitor({"/var/herald"}, 100 * kMiB, low, disks.function());

  for (int i = 0; i < 3; ++i) monitor.check();
  disks.free_bytes["/var/herald"] = 300 * kMiB;
  for (int i = 0; i < 3; ++i) monitor.check();

  EXPECT_EQ(log.count("storage low path=/var/herald free=52428800 required=104857600"), 1u);
  EXPECT_EQ(log.count("storage recovered path=/var/herald free=314572800 required=104857600"), 1u);
  EXPECT_EQ(log.lines().size(), 2u);
}

TEST(FreeSpaceMonitor, UnreadablePathKeepsItsLastStateAndIsLoggedOnce) {
  LogCapture log;
  FakeDisks disks;
  disks.free_bytes["/var/herald"] = 50 * kMiB;
  std::atomic<bool> low{false};
  FreeSpaceMonitor monitor({"/var/herald"}, 100 * kMiB, low, disks.function());
  monitor.check();
  ASSERT_TRUE(low);

  disks.errors["/var/herald"] = EIO;
  monitor.check();
  monitor.check();
  EXPECT_TRUE(low);
  EXPECT_EQ(monitor.readings()[0].free_bytes, 50 * kMiB);  // the last reading
  EXPECT_EQ(monitor.readings()[0].error, EIO);
  EXPECT_EQ(log.count("free space unknown path=/var/herald"), 1u);

  disks.errors.clear();
  disks.free_bytes["/var/herald"] = 300 * kMiB;
  monitor.check();
  EXPECT_FALSE(low);
}

TEST(FreeSpaceMonitor, HeadroomIsWhatTheFullestPathHasAboveTheMinimum) {
  FakeDisks disks;
  disks.free_bytes["/var/herald"] = 500 * kMiB;
  disks.free_bytes["/srv/mail"] = 130 * kMiB;
  std::atomic<bool> low{false};
  FreeSpaceMonitor monitor({"/var/herald", "/srv/mail"}, 100 * kMiB, low, disks.function());
  monitor.check();
  EXPECT_EQ(monitor.headroom().load(), 30 * kMiB);

  disks.free_bytes["/srv/mail"] = 90 * kMiB;
  monitor.check();
  EXPECT_EQ(monitor.headroom().load(), 0u);
}

TEST(FreeSpaceMonitor, APathNeverReadDoesNotMakeStorageLow) {
  FakeDisks disks;
  disks.errors["/var/herald"] = EACCES;
  std::atomic<bool> low{false};
  FreeSpaceMonitor monitor({"/var/herald"}, 100 * kMiB, low, disks.function());
  monitor.check();
  EXPECT_FALSE(low);
}

TEST(DistinctFileSystems, KeepsTheFirstPathOfEachFileSystemAndDropsMissingOnes) {
  const std::filesystem::path dir = ::testing::TempDir();
  const std::filesystem::path sub = dir / "free_space_monitor_test_sub";
  std::filesystem::create_directories(sub);
  const std::vector<std::filesystem::path> paths =
      distinct_file_systems({dir, sub, dir / "does-not-exist", "/proc"});
  // sub is on dir's file system; /proc is a file system of its own.
  EXPECT_EQ(paths, (std::vector<std::filesystem::path>{dir, "/proc"}));
  std::filesystem::remove(sub);
}

}  // namespace
}  // namespace herald
