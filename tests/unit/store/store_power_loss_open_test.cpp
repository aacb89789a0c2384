// Power loss while the store opens (issue 8): at every file operation in turn of the first
// open of a new store, of the migration of a layout-1 store, and of the open that recovers
// acknowledged commits from the WAL. Each time the store then opens as heraldd opens it, with
// nothing it had lost. And the harness itself: a commit whose sync did not happen is lost.
#include <gtest/gtest.h>

#include <cstdio>
#include <optional>
#include <random>
#include <set>

#include "store/power_loss_fixture.h"
#include "support/stored_text.h"

namespace herald {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test_support::event_at;
using test_support::ExpectedStore;
using test_support::key_of;
using test_support::kStoreT0;
using test_support::NewMessage;
using test_support::random_message;
using test_support::RawRocksDb;
using test_support::stored_delivery;
using test_support::stored_message;

// More file operations than any of these opens makes; reaching it is a failure.
constexpr uint64_t kMaxCuts = 400;

std::set<std::string> due_keys(Store& store, const std::string& transport) {
  std::set<std::string> keys;
  for (const DueDelivery& d : test_support::due_in_every_band(store, transport, kStoreT0 + 1000h)) {
    EXPECT_TRUE(keys.insert(key_of(d.delivery)).second) << "twice: " << key_of(d.delivery);
  }
  return keys;
}

// The store takes a message and gives it back.
void expect_usable(Store& store) {
  std::mt19937 random(5);
  const NewMessage m = random_message(random, "after-power-loss");
  store.commit_message(m.record, m.content, m.deliveries, m.events);
  ExpectedStore expected;
  expected.add(m);
  expected.check(store);
}

class StorePowerLossOpenTest : public test_support::PowerLossStoreTest {
 protected:
  // Power fails at every file operation in turn of opening a store in a fresh directory (a
  // copy of `source` when given, else empty), until an open gets through before power fails:
  // then every cut point has been tried. After each cut the store is reopened and `check`ed.
  template <class Check>
  void cut_every_operation_of_an_open(const std::string& name,
                                      const std::optional<fs::path>& source, Check check) {
    bool opened = false;
    uint64_t cut = 0;
    for (; cut < kMaxCuts && !opened; ++cut) {
      SCOPED_TRACE("power fails after " + std::to_string(cut) + " operations");
      const fs::path directory = dir(name + "-" + std::to_string(cut));
      if (source) fs::copy(*source, directory, fs::copy_options::recursive);
      file_system_->fail_after(cut);
      std::unique_ptr<Store> store;
      try {
        store = open_over_file_system(directory);
      } catch (const StoreError&) {
      }
      opened = store != nullptr && !file_system_->failed();
      lose_power(store);
      ASSERT_NO_THROW(store = reopen(directory));
      check(*store);
    }
    EXPECT_TRUE(opened) << "power failed during each of " << cut << " opens";
  }
};

TEST_F(StorePowerLossOpenTest, PowerLossDuringTheFirstOpenLeavesAStoreThatOpens) {
  cut_every_operation_of_an_open("first-open", std::nullopt, expect_usable);
}

// A store of layout 1 (no due, finished or quarantine family), as in
// store_migration_test.cpp: A/0 due at T0+1s, A/1 held, A/2 delivered; B delivered; C/0
// deferred on smtp.
void write_layout_one_store(const fs::path& directory) {
  RawRocksDb raw(directory, {"default", "messages", "content", "deliveries", "ledger", "pending"});
  uint64_t sequence = 1;
  const auto add = [&](const MessageRecord& m, const std::vector<Delivery>& deliveries) {
    raw.put("messages", m.id, encode_message_record(m));
    raw.put("content", m.id, "content of " + m.id);
    char row[64];
    for (const Delivery& d : deliveries) {
      std::snprintf(row, sizeof row, "%s/%010u", m.id.c_str(), d.index);
      raw.put("deliveries", row, encode_delivery(d));
      if (!is_terminal(d.state)) raw.put("pending", row, "");
    }
    std::snprintf(row, sizeof row, "%s/%020llu", m.id.c_str(),
                  static_cast<unsigned long long>(sequence++));
    raw.put("ledger", row, encode_ledger_event(event_at(kStoreT0, "received")));
  };
  const MessageRecord a = stored_message("A");
  Delivery a1 = stored_delivery(a, 1, kStoreT0);
  a1.held = true;
  Delivery a2 = stored_delivery(a, 2, kStoreT0);
  a2.state = DeliveryState::delivered;
  add(a, {stored_delivery(a, 0, kStoreT0 + 1s), a1, a2});
  const MessageRecord b = stored_message("B");
  Delivery b0 = stored_delivery(b, 0, kStoreT0);
  b0.state = DeliveryState::delivered;
  add(b, {b0});
  const MessageRecord c = stored_message("C");
  Delivery c0 = stored_delivery(c, 0, kStoreT0 + 2s, "smtp");
  c0.state = DeliveryState::deferred;
  add(c, {c0});
}

TEST_F(StorePowerLossOpenTest, PowerLossDuringMigrationLeavesAStoreThatMigrates) {
  const fs::path layout_one = dir("layout-1");
  write_layout_one_store(layout_one);  // closed cleanly: durable
  cut_every_operation_of_an_open("migration", layout_one, [](Store& store) {
    EXPECT_EQ(due_keys(store, "local"), std::set<std::string>{"A/0"});
    EXPECT_EQ(due_keys(store, "smtp"), std::set<std::string>{"C/0"});
    std::set<std::string> pending;
    for (const Delivery& d : store.unfinished_deliveries(std::nullopt, 1000))
      pending.insert(key_of(d));
    EXPECT_EQ(pending, (std::set<std::string>{"A/0", "A/1", "C/0"}));
    EXPECT_EQ(test_support::stored_text(store, "A"), "content of A");
    // The finished index has B, once.
    EXPECT_EQ(store.remove_finished(kStoreT0 + 1000h, 100), 1u);
    EXPECT_FALSE(store.message("B"));
    EXPECT_TRUE(store.damaged_records(10).empty());
  });
}

TEST_F(StorePowerLossOpenTest, PowerLossDuringRecoveryKeepsWhatWasAcknowledged) {
  // Commits that reached only the WAL, as power loss leaves them: the next open replays
  // them into new table files, rewrites the manifest and drops the WAL.
  const fs::path written = dir("written");
  ExpectedStore expected;
  {
    std::mt19937 random(11);
    auto store = open_over_file_system(written);
    for (int n = 0; n < 40; ++n) {
      const NewMessage m = random_message(random, "m" + std::to_string(100 + n));
      store->commit_message(m.record, m.content, m.deliveries, m.events);
      expected.add(m);
    }
    lose_power(store);
  }
  // Each check ends by removing the finished messages: every cut reopens a fresh copy.
  cut_every_operation_of_an_open("recovery", written, [&](Store& store) { expected.check(store); });
}

// The harness catches what it is for: with syncs that do nothing, every commit that returned
// is gone after the power failure. (The store's own syncs are what the other tests rely on.)
TEST_F(StorePowerLossOpenTest, PowerLossLosesAcknowledgedCommitsWhoseSyncDidNothing) {
  auto store = open_over_file_system(dir());
  file_system_->set_syncs_ignored(true);
  std::mt19937 random(3);
  std::vector<std::string> ids;
  for (int n = 0; n < 20; ++n) {
    const NewMessage m = random_message(random, "m" + std::to_string(100 + n));
    store->commit_message(m.record, m.content, m.deliveries, m.events);
    ids.push_back(m.record.id);
  }
  for (const std::string& id : ids) EXPECT_TRUE(store->message(id)) << id;
  lose_power(store);
  file_system_->set_syncs_ignored(false);
  store = reopen(dir());
  for (const std::string& id : ids) EXPECT_FALSE(store->message(id)) << id;
}

}  // namespace
}  // namespace herald
