// Power loss under Maildir delivery (issue 8: power loss, which SIGKILL never tests, as the page
// cache survives a killed process). MaildirTransport writes over PowerLossMaildirFiles
// (power_loss_maildir_files.h), which keeps what was not synced apart; threads deliver until
// power fails at a seeded file operation; the Maildirs are put into the state a power failure
// leaves. Then every delivery whose attempt() said `delivered` has its file in new/, whole;
// nothing in new/ is partial; a delivery that failed is in new/ whole or not at all (its
// tmp/ file may be left, partial: readers never look in tmp/, and the next attempt rewrites
// it); and attempted again after the restart, each delivery lands exactly once.
//
// The second half shows that the check catches a build that skips one of the transport's
// syncs (of the file, of new/, of a new directory's parent): the same run then loses or
// truncates a message attempt() had reported delivered.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "support/pieced_body.h"
#include "support/temp_dir.h"
#include "transport/maildir_transport.h"
#include "transport/power_loss_maildir_files.h"

namespace herald {
namespace {

namespace fs = std::filesystem;
using test_support::PowerLossMaildirFiles;
using test_support::TempDir;

// Each seed picks the moment power fails, and the mailboxes, sizes and pieces of the messages.
constexpr std::array<uint32_t, 5> kSeeds = {1, 7, 42, 1234, 31337};
constexpr int kThreads = 4;
constexpr int kDeliveriesPerThread = 12;
// Few mailboxes, so that the threads meet in one new/ and share its fsyncs.
constexpr std::array<std::string_view, 3> kMailboxes = {"alice@example.test", "bob@example.test",
                                                        "carol@example.org"};
constexpr std::string_view kHostname = "mx.example.test";
const TimePoint kReceived = from_unix_ms(1'700'000'000'000);

// One delivery, what it should leave in its mailbox, and what attempt() answered.
struct Attempted {
  MessageRecord message;
  Delivery delivery;
  std::string header;        // as stored: CRLF line ends
  std::string body;          // as stored
  std::vector<size_t> cuts;  // where the body is cut into pieces (each a write of its own)
  AttemptResult result;

  MessageContent content() const {
    return test_support::pieced_content(header, body, cuts).content;
  }

  fs::path file(const fs::path& mail_root) const {
    const std::string& mailbox = delivery.mailbox;
    const auto at = mailbox.find('@');
    return mail_root / mailbox.substr(at + 1) / mailbox.substr(0, at) / "Maildir" / "new" /
           ("1700000000.H" + message.id + "_" + std::to_string(delivery.index) + "." +
            std::string(kHostname));
  }

  // What the transport writes: its two trace fields, then the content with CRLF as LF.
  std::string expected_file() const {
    std::string out = "Return-Path: <" + message.envelope.mail_from +
                      ">\nDelivered-To: " + delivery.mailbox + "\n";
    const std::string stored = header + body;
    for (size_t i = 0; i < stored.size(); ++i) {
      if (stored[i] == '\r' && i + 1 < stored.size() && stored[i + 1] == '\n') continue;
      out += stored[i];
    }
    return out;
  }
};

Attempted random_delivery(std::mt19937& random, const std::string& id) {
  Attempted a;
  a.message.id = id;
  a.message.received_at = kReceived;
  a.message.envelope.mail_from = "sender@example.org";
  a.delivery.message_id = id;
  a.delivery.index = 1;
  a.delivery.mailbox = std::string(kMailboxes[random() % kMailboxes.size()]);
  a.delivery.recipient = a.delivery.mailbox;
  a.header = "Subject: message " + id + "\r\nFrom: sender@example.org\r\n\r\n";
  const int lines = 1 + static_cast<int>(random() % 60);
  for (int line = 0; line < lines; ++line) {
    const size_t length = random() % 120;
    for (size_t i = 0; i < length; ++i) a.body += static_cast<char>('a' + random() % 26);
    a.body += "\r\n";
  }
  for (size_t cut = 1 + random() % 200; cut < a.body.size(); cut += 1 + random() % 400) {
    a.cuts.push_back(cut);
  }
  return a;
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// `kThreads` threads each deliver up to `kDeliveriesPerThread` messages through one transport
// over `files`; a thread stops at its first failure (once power has failed, every later
// attempt would fail too). Returns every attempt made, with its answer.
std::vector<Attempted> deliver(MaildirFiles& files, const fs::path& mail_root, uint32_t seed) {
  MaildirTransport transport(mail_root, std::string(kHostname), files);
  std::vector<std::vector<Attempted>> per_thread(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(seed * 100 + t);
      for (int n = 0; n < kDeliveriesPerThread; ++n) {
        Attempted a = random_delivery(
            random, "S" + std::to_string(seed) + "T" + std::to_string(t) + "N" + std::to_string(n));
        a.result = transport.attempt(a.message, a.delivery, a.content());
        const bool delivered = a.result.outcome == AttemptResult::Outcome::delivered;
        per_thread[t].push_back(std::move(a));
        if (!delivered) return;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::vector<Attempted> all;
  for (auto& attempts : per_thread) {
    for (Attempted& a : attempts) all.push_back(std::move(a));
  }
  return all;
}

size_t count_delivered(const std::vector<Attempted>& attempted) {
  return std::count_if(attempted.begin(), attempted.end(), [](const Attempted& a) {
    return a.result.outcome == AttemptResult::Outcome::delivered;
  });
}

// What power loss broke, one line each, starting with its kind: "lost" (a delivered message
// not in new/), "partial" (a file in new/ holding only the start of its message), "corrupt"
// (one holding something else), "stray" (a file in new/ or cur/ no delivery wrote).
std::vector<std::string> damage(const fs::path& mail_root,
                                const std::vector<Attempted>& attempted) {
  std::vector<std::string> found;
  std::map<fs::path, const Attempted*> by_file;
  for (const Attempted& a : attempted) {
    by_file[a.file(mail_root)] = &a;
    if (a.result.outcome == AttemptResult::Outcome::delivered && !fs::exists(a.file(mail_root))) {
      found.push_back("lost " + a.message.id + " (delivered: " + a.result.reply + ")");
    }
  }
  if (!fs::exists(mail_root)) return found;
  for (const auto& entry : fs::recursive_directory_iterator(mail_root)) {
    const std::string folder = entry.path().parent_path().filename().string();
    if (!entry.is_regular_file() || (folder != "new" && folder != "cur")) continue;
    const auto known = by_file.find(entry.path());
    if (known == by_file.end()) {
      found.push_back("stray " + entry.path().string());
      continue;
    }
    const std::string expected = known->second->expected_file();
    const std::string held = read_file(entry.path());
    if (held == expected) continue;
    found.push_back((expected.starts_with(held) ? "partial " : "corrupt ") +
                    known->second->message.id + " (" + std::to_string(held.size()) + " of " +
                    std::to_string(expected.size()) + " bytes)");
  }
  return found;
}

size_t count_kind(const std::vector<std::string>& damage, std::string_view kind) {
  return std::count_if(damage.begin(), damage.end(), [&](const std::string& line) {
    return line.starts_with(std::string(kind) + " ");
  });
}

std::string listed(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += "\n  " + line;
  return out;
}

// The changing file operations one whole run (no power failure) makes for `seed`: the range
// the moment power fails is drawn from.
uint64_t operations_of_a_whole_run(uint32_t seed) {
  TempDir temp;
  PowerLossMaildirFiles disk(temp.path() / "trash");
  deliver(disk, temp.path() / "mail", seed);
  return disk.operations();
}

TEST(MaildirPowerLossTest, PowerLossDuringConcurrentDeliveriesKeepsEveryDeliveredMessageWhole) {
  size_t delivered_before_power_failed = 0;
  size_t failed_when_power_failed = 0;
  for (const uint32_t seed : kSeeds) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const uint64_t whole_run = operations_of_a_whole_run(seed);
    ASSERT_GT(whole_run, 0u);
    TempDir temp;
    const fs::path mail_root = temp.path() / "mail";
    PowerLossMaildirFiles disk(temp.path() / "trash");
    std::mt19937 random(seed);
    // Not at the very end: a run that shares more directory fsyncs makes fewer operations.
    disk.fail_after(whole_run / 10 + random() % (whole_run * 7 / 10));

    std::vector<Attempted> attempted = deliver(disk, mail_root, seed);
    EXPECT_TRUE(disk.failed()) << "power failed before the deliveries ended";
    disk.lose_power();

    const std::vector<std::string> broken = damage(mail_root, attempted);
    EXPECT_TRUE(broken.empty()) << listed(broken);
    const size_t delivered = count_delivered(attempted);
    delivered_before_power_failed += delivered;
    failed_when_power_failed += attempted.size() - delivered;

    // The restart: the queue attempts again every delivery it has not recorded delivered,
    // over the disk as power loss left it. Each lands once, whole.
    MaildirTransport restarted(mail_root, std::string(kHostname), disk);
    for (Attempted& a : attempted) {
      if (a.result.outcome == AttemptResult::Outcome::delivered) continue;
      a.delivery.attempts = 1;
      a.result = restarted.attempt(a.message, a.delivery, a.content());
      EXPECT_EQ(a.result.outcome, AttemptResult::Outcome::delivered) << a.result.reply;
    }
    disk.lose_power();  // nothing undurable may remain once every attempt has returned
    const std::vector<std::string> after_retry = damage(mail_root, attempted);
    EXPECT_TRUE(after_retry.empty()) << listed(after_retry);
    for (const Attempted& a : attempted) EXPECT_TRUE(fs::exists(a.file(mail_root))) << a.message.id;
  }
  // Power failed in the middle: some deliveries had returned, the ones under way failed.
  EXPECT_GT(delivered_before_power_failed, 0u);
  EXPECT_GT(failed_when_power_failed, 0u);
}

// --- the check catches a skipped sync --------------------------------------------------

// The sync a broken build would skip.
enum class Skipped { file_fsync, new_directory_fsync, fsync_after_mkdir };

// Forwards to the disk below, except that the chosen sync answers 0 at once without syncing
// anything, as a build without it (or a disk that lies) would.
class SkippingSyncs final : public MaildirFiles {
 public:
  SkippingSyncs(MaildirFiles& disk, Skipped skipped) : disk_(disk), skipped_(skipped) {}

  int open_for_write(const fs::path& file, std::unique_ptr<MaildirFile>& opened) override {
    const int error = disk_.open_for_write(file, opened);
    if (error == 0 && skipped_ == Skipped::file_fsync) {
      opened = std::make_unique<UnsyncedFile>(std::move(opened));
    }
    return error;
  }
  int rename(const fs::path& from, const fs::path& to) override { return disk_.rename(from, to); }
  int unlink(const fs::path& file) override { return disk_.unlink(file); }
  int make_directory(const fs::path& dir) override { return disk_.make_directory(dir); }
  int sync_directory(const fs::path& dir, std::string& failed_step) override {
    const bool is_new = dir.filename() == "new";
    if ((skipped_ == Skipped::new_directory_fsync && is_new) ||
        (skipped_ == Skipped::fsync_after_mkdir && !is_new)) {
      return 0;
    }
    return disk_.sync_directory(dir, failed_step);
  }
  int look_up(const fs::path& entry) override { return disk_.look_up(entry); }
  int scan_directory(const fs::path& dir, const std::function<bool(std::string_view)>& visit,
                     std::string& failed_step) override {
    return disk_.scan_directory(dir, visit, failed_step);
  }

 private:
  class UnsyncedFile final : public MaildirFile {
   public:
    explicit UnsyncedFile(std::unique_ptr<MaildirFile> file) : file_(std::move(file)) {}
    int write(std::string_view bytes) override { return file_->write(bytes); }
    int sync() override { return 0; }
    int close() override { return file_->close(); }

   private:
    std::unique_ptr<MaildirFile> file_;
  };

  MaildirFiles& disk_;
  const Skipped skipped_;
};

// What a run with a sync skipped left: how many attempts said delivered, how many of those
// messages are not whole in new/ after the power loss, and everything damage() found.
struct SkippedRun {
  size_t delivered = 0;
  size_t delivered_not_whole = 0;
  std::vector<std::string> damage;
};

// Seed 42's run with `skipped` left out, power failing after `kCutAt` operations: enough for
// some deliveries to return first (each makes about twenty, four at a time).
SkippedRun run_with_skipped(Skipped skipped) {
  constexpr uint32_t kSeed = 42;
  constexpr uint64_t kCutAt = 300;
  TempDir temp;
  const fs::path mail_root = temp.path() / "mail";
  PowerLossMaildirFiles disk(temp.path() / "trash");
  SkippingSyncs broken(disk, skipped);
  disk.fail_after(kCutAt);
  const std::vector<Attempted> attempted = deliver(broken, mail_root, kSeed);
  disk.lose_power();
  SkippedRun run;
  for (const Attempted& a : attempted) {
    if (a.result.outcome != AttemptResult::Outcome::delivered) continue;
    ++run.delivered;
    const fs::path file = a.file(mail_root);
    if (!fs::exists(file) || read_file(file) != a.expected_file()) ++run.delivered_not_whole;
  }
  run.damage = damage(mail_root, attempted);
  return run;
}

// In each case below every message attempt() reported delivered is gone or cut short: the
// check above fails for each sync left out, whatever the moment of the power failure.

TEST(MaildirPowerLossTest, SkippedFileFsyncIsCaughtAsADeliveredMessageCutShort) {
  const SkippedRun run = run_with_skipped(Skipped::file_fsync);
  ASSERT_GT(run.delivered, 0u);
  EXPECT_EQ(run.delivered_not_whole, run.delivered);
  // Each delivered file's rename was made durable, its bytes never were.
  EXPECT_GE(count_kind(run.damage, "partial"), run.delivered) << listed(run.damage);
}

TEST(MaildirPowerLossTest, SkippedFsyncOfNewIsCaughtAsADeliveredMessageLost) {
  const SkippedRun run = run_with_skipped(Skipped::new_directory_fsync);
  ASSERT_GT(run.delivered, 0u);
  EXPECT_EQ(run.delivered_not_whole, run.delivered);
  // Each delivered file's bytes were durable, its rename into new/ never was.
  EXPECT_EQ(count_kind(run.damage, "lost"), run.delivered) << listed(run.damage);
}

TEST(MaildirPowerLossTest, SkippedFsyncAfterMkdirIsCaughtAsAMailboxLost) {
  const SkippedRun run = run_with_skipped(Skipped::fsync_after_mkdir);
  ASSERT_GT(run.delivered, 0u);
  EXPECT_EQ(run.delivered_not_whole, run.delivered);
  // The mail root's own entry was never durable: power loss takes every mailbox under it.
  EXPECT_EQ(count_kind(run.damage, "lost"), run.delivered) << listed(run.damage);
}

}  // namespace
}  // namespace herald
