// Power loss while bodies stream in (issue 8): pieces are written ahead without a sync and
// made durable by their message's synced commit. After power fails and the store is
// reopened, every message whose commit returned has its whole body, a commit under way is
// there whole or not at all, and no piece of a transfer that never committed is left.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "store/power_loss_fixture.h"
#include "support/stored_text.h"

namespace herald {
namespace {

using test_support::kStoreT0;
using test_support::stored_delivery;

using StorePowerLossBodyTest = test_support::PowerLossStoreTest;

constexpr std::array<uint32_t, 4> kSeeds = {3, 99, 2024, 65537};
constexpr int kThreads = 4;
constexpr int kTransfersPerThread = 200;
constexpr size_t kMemtableBudget = 256 << 10;

// One transfer as a session makes it: pieces ahead, then (unless abandoned) the commit.
struct Transfer {
  std::string id;
  std::vector<std::string> pieces;
  std::string rest;
  bool abandoned = false;

  std::string text() const {
    std::string all = "Subject: t\r\n\r\n";
    for (const std::string& p : pieces) all += p;
    return all + rest;
  }
};

Transfer random_transfer(std::mt19937& random, std::string id) {
  Transfer t;
  t.id = std::move(id);
  const int pieces = static_cast<int>(random() % 4);
  for (int i = 0; i < pieces; ++i) {
    // Below and above the blob threshold (2 KiB).
    t.pieces.emplace_back(100 + random() % 6000, static_cast<char>('a' + random() % 26));
  }
  t.rest = std::string(random() % 300, 'r') + "\r\n";
  t.abandoned = random() % 4 == 0;
  return t;
}

// What one thread saw: transfers whose commit returned before power failed, abandoned ones,
// and the one under way then (or done after), if any.
struct TransferLog {
  std::vector<Transfer> committed;
  std::vector<Transfer> abandoned;
  std::optional<Transfer> in_doubt;
};

void run(Store& store, const Transfer& t) {
  uint64_t written = 0;
  for (size_t i = 0; i < t.pieces.size(); ++i) {
    store.write_body_piece(t.id, static_cast<uint32_t>(i), t.pieces[i]);
    written += t.pieces[i].size();
  }
  if (t.abandoned) return;
  MessageRecord m = test_support::stored_message(t.id);
  store.commit_message(m,
                       ContentToCommit("Subject: t\r\n\r\n", static_cast<uint32_t>(t.pieces.size()),
                                       written, t.rest),
                       {stored_delivery(m, 0, kStoreT0)}, {});
}

void expect_no_piece_left(Store& store, const Transfer& t) {
  for (size_t i = 0; i < t.pieces.size(); ++i) {
    EXPECT_FALSE(store.body_piece(t.id, static_cast<uint32_t>(i))) << t.id << " piece " << i;
  }
}

TEST_F(StorePowerLossBodyTest, PowerLossWhileBodiesStreamKeepsEveryCommittedBodyWhole) {
  for (const uint32_t seed : kSeeds) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const auto directory = dir("body-" + std::to_string(seed));
    std::mt19937 random(seed);
    auto store = open_over_file_system(directory, kMemtableBudget);
    stop_after(50 + random() % 600);
    std::vector<TransferLog> logs(kThreads);
    std::atomic<int> writing = kThreads;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t, thread_seed = random()] {
        std::mt19937 own(thread_seed);
        for (int n = 0; n < kTransfersPerThread; ++n) {
          char id[32];
          std::snprintf(id, sizeof id, "%u-%02d-%04d", seed, t, n);
          Transfer transfer = random_transfer(own, id);
          run(*store, transfer);
          if (file_system_->stopped()) {
            logs[t].in_doubt = std::move(transfer);
            break;
          }
          (transfer.abandoned ? logs[t].abandoned : logs[t].committed).push_back(transfer);
        }
        --writing;
      });
    }
    const auto disk = disk_after_stop(directory, [&] { return writing > 0; });
    for (auto& thread : threads) thread.join();
    store.reset();
    ASSERT_TRUE(disk) << "the transfers all finished before power failed";

    store = reopen(*disk);
    size_t committed = 0;
    for (const TransferLog& log : logs) {
      for (const Transfer& t : log.committed) {
        EXPECT_EQ(test_support::stored_text(*store, t.id), t.text()) << t.id;
        ++committed;
      }
      for (const Transfer& t : log.abandoned) expect_no_piece_left(*store, t);
      if (!log.in_doubt) continue;
      if (store->message(log.in_doubt->id)) {
        EXPECT_EQ(test_support::stored_text(*store, log.in_doubt->id), log.in_doubt->text());
      } else {
        expect_no_piece_left(*store, *log.in_doubt);
      }
    }
    EXPECT_GT(committed, 0u);
    store.reset();
  }
}

}  // namespace
}  // namespace herald
