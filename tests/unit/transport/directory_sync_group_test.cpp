#include "transport/directory_sync_group.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <thread>

namespace herald {
namespace {

TEST(DirectorySyncGroups, TwoCallersAreNotSerializedBehindEachOthersSync) {
  std::atomic<int> running{0};
  std::atomic<int> most_at_once{0};
  std::atomic<int> calls{0};
  DirectorySyncGroups groups(
      [&](const std::filesystem::path&, std::string&) {
        const int now = ++running;
        most_at_once = std::max(most_at_once.load(), now);
        if (++calls == 1) {
          // The first sync ends only once the second has started beside it (bounded: if the
          // second waited for the first instead, this gives up and the test fails).
          const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
          while (calls < 2 && std::chrono::steady_clock::now() < give_up) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          }
        }
        --running;
        return 0;
      },
      2);

  std::string step;
  std::thread first([&] { EXPECT_EQ(groups.sync("/maildir/new", step), 0); });
  while (calls == 0) std::this_thread::yield();
  std::string second_step;
  EXPECT_EQ(groups.sync("/maildir/new", second_step), 0);
  first.join();

  EXPECT_EQ(calls, 2);
  EXPECT_EQ(most_at_once, 2);
}

TEST(DirectorySyncGroups, FailedSyncFailsItsCallersAndNotLaterOnes) {
  int error = EIO;
  DirectorySyncGroups groups([&](const std::filesystem::path&, std::string& step) {
    if (error != 0) step = "fsync";
    return error;
  });
  std::string step;
  EXPECT_EQ(groups.sync("/maildir/new", step), EIO);
  EXPECT_EQ(step, "fsync");

  // A failure before a caller arrived says nothing about its change.
  error = 0;
  std::string later_step;
  EXPECT_EQ(groups.sync("/maildir/new", later_step), 0);
  EXPECT_EQ(later_step, "");
}

TEST(DirectorySyncGroups, DirectoriesAreSyncedApart) {
  std::vector<std::string> synced;
  DirectorySyncGroups groups([&](const std::filesystem::path& dir, std::string&) {
    synced.push_back(dir.string());
    return 0;
  });
  std::string step;
  EXPECT_EQ(groups.sync("/a/new", step), 0);
  EXPECT_EQ(groups.sync("/b/new", step), 0);
  EXPECT_EQ(synced, (std::vector<std::string>{"/a/new", "/b/new"}));
}

}  // namespace
}  // namespace herald
