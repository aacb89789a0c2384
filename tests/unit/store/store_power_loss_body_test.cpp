// Power loss while bodies stream in (issue 8): pieces are written ahead without a sync and
// made durable by their message's synced commit. After power fails and the store is
// reopened, every message whose commit returned has its whole body, a commit that threw is
// there whole or not at all, and no piece of a transfer that never committed is left.
#include <gtest/gtest.h>

#include <array>
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
constexpr size_t kMemtableBytes = 256 << 10;

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

// What one thread saw: transfers whose commit returned, abandoned ones, and the one that
// threw, if any.
struct TransferLog {
  std::vector<Transfer> committed;
  std::vector<Transfer> abandoned;
  std::optional<Transfer> failed;
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
    auto store = open_over_file_system(directory, kMemtableBytes);
    file_system_->fail_after(50 + random() % 600);
    std::vector<TransferLog> logs(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t, thread_seed = random()] {
        std::mt19937 own(thread_seed);
        for (int n = 0; n < kTransfersPerThread; ++n) {
          char id[32];
          std::snprintf(id, sizeof id, "%u-%02d-%04d", seed, t, n);
          Transfer transfer = random_transfer(own, id);
          try {
            run(*store, transfer);
          } catch (const StoreError&) {
            logs[t].failed = std::move(transfer);
            return;
          }
          (transfer.abandoned ? logs[t].abandoned : logs[t].committed).push_back(transfer);
        }
      });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_TRUE(file_system_->failed());
    lose_power(store);

    store = reopen(directory);
    size_t committed = 0;
    for (const TransferLog& log : logs) {
      for (const Transfer& t : log.committed) {
        EXPECT_EQ(test_support::stored_text(*store, t.id), t.text()) << t.id;
        ++committed;
      }
      for (const Transfer& t : log.abandoned) expect_no_piece_left(*store, t);
      if (!log.failed) continue;
      if (store->message(log.failed->id)) {
        EXPECT_EQ(test_support::stored_text(*store, log.failed->id), log.failed->text());
      } else {
        expect_no_piece_left(*store, *log.failed);
      }
    }
    EXPECT_GT(committed, 0u);
    store.reset();
  }
}

}  // namespace
}  // namespace herald
