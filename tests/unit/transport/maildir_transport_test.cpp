#include "transport/maildir_transport.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "support/pieced_body.h"
#include "support/temp_dir.h"
#include "util/message_id.h"

namespace herald {
namespace {

namespace fs = std::filesystem;

using test_support::TempDir;

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::exists(dir)) return out;
  for (const auto& entry : fs::directory_iterator(dir)) out.push_back(entry.path());
  return out;
}

const TimePoint kReceived = from_unix_ms(1'700'000'000'123);
constexpr std::string_view kContent =
    "Received: from client.example.org by mx.example.test; Tue, 14 Nov 2023 22:13:20 +0000\r\n"
    "Subject: hello\r\n"
    "\r\n"
    "body line\r\n";

class MaildirTransportTest : public ::testing::Test {
 protected:
  MaildirTransportTest() : transport_(mail_root(), "mx.example.test") {
    message_.id = new_message_id(kReceived);
    message_.received_at = kReceived;
    message_.envelope.mail_from = "sender@example.org";
    delivery_.message_id = message_.id;
    delivery_.index = 2;
    delivery_.recipient = "postmaster@example.test";
    delivery_.mailbox = "alice@example.test";
  }

  fs::path mail_root() const { return temp_.path() / "mail"; }
  fs::path maildir() const { return mail_root() / "example.test" / "alice" / "Maildir"; }
  std::string expected_name() const { return "1700000000.H" + message_.id + "_2.mx.example.test"; }
  AttemptResult attempt() {
    return transport_.attempt(message_, delivery_, MessageContent::from_text(kContent));
  }

  TempDir temp_;
  MaildirTransport transport_;
  MessageRecord message_;
  Delivery delivery_;
};

TEST_F(MaildirTransportTest, FileLandsInNewWithTraceHeadersAndUnixLineEnds) {
  const AttemptResult r = attempt();
  ASSERT_EQ(r.outcome, AttemptResult::Outcome::delivered) << r.reply;

  const fs::path file = maildir() / "new" / expected_name();
  ASSERT_EQ(r.fields.size(), 1u);
  EXPECT_EQ(r.fields[0].first, "mailbox");
  EXPECT_EQ(r.fields[0].second, file.string());
  EXPECT_EQ(read_file(file),
            "Return-Path: <sender@example.org>\n"
            "Delivered-To: alice@example.test\n"
            "Received: from client.example.org by mx.example.test; Tue, 14 Nov 2023 22:13:20 "
            "+0000\n"
            "Subject: hello\n"
            "\n"
            "body line\n");
  EXPECT_TRUE(files_in(maildir() / "tmp").empty());
  EXPECT_TRUE(files_in(maildir() / "cur").empty());
}

TEST_F(MaildirTransportTest, MaildirIsCreatedPrivate) {
  ASSERT_EQ(attempt().outcome, AttemptResult::Outcome::delivered);
  for (const char* sub : {"tmp", "new", "cur"}) {
    struct stat st;
    ASSERT_EQ(::stat((maildir() / sub).c_str(), &st), 0) << sub;
    EXPECT_EQ(st.st_mode & 0777, 0700u) << sub;
  }
}

TEST_F(MaildirTransportTest, NullSenderGivesEmptyReturnPath) {
  message_.envelope.mail_from = "";
  ASSERT_EQ(attempt().outcome, AttemptResult::Outcome::delivered);
  EXPECT_TRUE(read_file(maildir() / "new" / expected_name()).starts_with("Return-Path: <>\n"));
}

TEST_F(MaildirTransportTest, SecondAttemptOfTheSameDeliveryWritesNoSecondCopy) {
  ASSERT_EQ(attempt().outcome, AttemptResult::Outcome::delivered);
  const AttemptResult again = attempt();
  EXPECT_EQ(again.outcome, AttemptResult::Outcome::delivered);
  EXPECT_EQ(again.fields[0].second, (maildir() / "new" / expected_name()).string());
  EXPECT_EQ(files_in(maildir() / "new").size(), 1u);
}

TEST_F(MaildirTransportTest, CopyAMailClientMovedToCurCountsAsDelivered) {
  ASSERT_EQ(attempt().outcome, AttemptResult::Outcome::delivered);
  const fs::path seen = maildir() / "cur" / (expected_name() + ":2,S");
  fs::rename(maildir() / "new" / expected_name(), seen);

  delivery_.attempts = 1;  // the crash came after the attempt, before it was recorded
  const AttemptResult again = attempt();
  EXPECT_EQ(again.outcome, AttemptResult::Outcome::delivered);
  EXPECT_EQ(again.fields[0].second, seen.string());
  EXPECT_TRUE(files_in(maildir() / "new").empty());
}

TEST_F(MaildirTransportTest, OtherDeliveriesOfTheMessageGetTheirOwnFiles) {
  ASSERT_EQ(attempt().outcome, AttemptResult::Outcome::delivered);
  delivery_.index = 3;
  ASSERT_EQ(attempt().outcome, AttemptResult::Outcome::delivered);
  EXPECT_EQ(files_in(maildir() / "new").size(), 2u);
}

TEST_F(MaildirTransportTest, StaleTmpFileFromACrashIsReplaced) {
  fs::create_directories(maildir() / "tmp");
  fs::create_directories(maildir() / "new");
  fs::create_directories(maildir() / "cur");
  std::ofstream(maildir() / "tmp" / expected_name()) << "half a message from before the cra";

  ASSERT_EQ(attempt().outcome, AttemptResult::Outcome::delivered);
  EXPECT_TRUE(files_in(maildir() / "tmp").empty());
  EXPECT_TRUE(read_file(maildir() / "new" / expected_name()).ends_with("body line\n"));
}

TEST_F(MaildirTransportTest, UnsafeMailboxNamesAreRefusedPermanently) {
  for (const std::string& mailbox : std::vector<std::string>{
           "../escape@example.test", "a/b@example.test", ".hidden@example.test",
           "a..b@example.test", std::string("nul\0l@example.test", 18), "alice@..", "alice@a/b",
           "alice@.example.test", "no-domain", "@example.test", "alice@"}) {
    delivery_.mailbox = mailbox;
    const AttemptResult r = attempt();
    EXPECT_EQ(r.outcome, AttemptResult::Outcome::permanent) << mailbox;
    EXPECT_TRUE(r.reply.starts_with("5.1.3 ")) << r.reply;
  }
  EXPECT_EQ(files_in(temp_.path()).size(), 0u) << "nothing was created";
}

TEST_F(MaildirTransportTest, MissingDataDirectoryIsATemporaryFailureThatSaysWhy) {
  MaildirTransport transport(temp_.path() / "no-such-data-dir" / "mail", "mx.example.test");
  const AttemptResult r =
      transport.attempt(message_, delivery_, MessageContent::from_text(kContent));
  EXPECT_EQ(r.outcome, AttemptResult::Outcome::temporary);
  EXPECT_NE(r.reply.find("mailbox directory not usable"), std::string::npos) << r.reply;
  EXPECT_NE(r.reply.find("No such file or directory"), std::string::npos) << r.reply;
}

TEST_F(MaildirTransportTest, FileInThePlaceOfTheMailboxTreeIsATemporaryFailure) {
  fs::create_directories(mail_root());
  std::ofstream(mail_root() / "example.test") << "not a directory";
  const AttemptResult r = attempt();
  EXPECT_EQ(r.outcome, AttemptResult::Outcome::temporary);
  EXPECT_TRUE(r.reply.starts_with("4.3.0 ")) << r.reply;
}

TEST_F(MaildirTransportTest, HostNameCharactersMaildirReservesAreEscaped) {
  MaildirTransport transport(mail_root(), "odd/host:name");
  ASSERT_EQ(transport.attempt(message_, delivery_, MessageContent::from_text(kContent)).outcome,
            AttemptResult::Outcome::delivered);
  const auto files = files_in(maildir() / "new");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_TRUE(files[0].filename().string().ends_with(".odd\\057host\\072name"))
      << files[0].filename();
}

// The real disk, with the syncs of new/ counted and watched: each records the names new/ held
// when it started, and is added to `completed` when it has ended. The first `held_syncs` do not
// run until new/ holds `hold_until` files, so that every other delivery arrives while they run.
// Syncs of other directories (after a mkdir) pass untouched.
struct SyncRecorder : PosixMaildirFiles {
  std::mutex mutex;
  std::vector<std::set<std::string>> completed;
  size_t calls = 0;
  size_t held_syncs = 0;
  size_t hold_until = 0;
  int error = 0;

  int sync_directory(const fs::path& dir, std::string& failed_step) override {
    if (dir.filename() != "new") return PosixMaildirFiles::sync_directory(dir, failed_step);
    std::set<std::string> seen;
    for (const fs::path& file : files_in(dir)) seen.insert(file.filename().string());
    bool held = false;
    {
      std::lock_guard lock(mutex);
      held = calls++ < held_syncs;
    }
    // Bounded: a broken group commit fails the assertions below, it does not hang.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (held && files_in(dir).size() < hold_until &&
           std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const int result = error != 0 ? error : PosixMaildirFiles::sync_directory(dir, failed_step);
    if (error != 0) failed_step = "fsync";
    std::lock_guard lock(mutex);
    completed.push_back(std::move(seen));
    return result;
  }

  // Whether a sync that started after `name` was in new/ has ended.
  bool covered(const std::string& name) {
    std::lock_guard lock(mutex);
    return std::any_of(completed.begin(), completed.end(),
                       [&](const std::set<std::string>& seen) { return seen.count(name) > 0; });
  }
};

TEST_F(MaildirTransportTest, ConcurrentDeliveriesToOneMaildirShareDirectoryFsyncs) {
  constexpr size_t kDeliveries = 8;
  SyncRecorder syncs;
  // The transport runs up to two syncs of one directory at once; both are held.
  syncs.held_syncs = 2;
  syncs.hold_until = kDeliveries;
  MaildirTransport transport(mail_root(), "mx.example.test", syncs);

  std::vector<AttemptResult> results(kDeliveries);
  std::vector<bool> durable_on_return(kDeliveries);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < kDeliveries; ++i) {
    threads.emplace_back([&, i] {
      Delivery d = delivery_;
      d.index = static_cast<uint32_t>(i);
      results[i] = transport.attempt(message_, d, MessageContent::from_text(kContent));
      durable_on_return[i] = syncs.covered("1700000000.H" + message_.id + "_" + std::to_string(i) +
                                           ".mx.example.test");
    });
  }
  for (std::thread& t : threads) t.join();

  for (size_t i = 0; i < kDeliveries; ++i) {
    EXPECT_EQ(results[i].outcome, AttemptResult::Outcome::delivered) << i << results[i].reply;
    // Returned only after a sync of new/ that began once its file was there.
    EXPECT_TRUE(durable_on_return[i]) << "delivery " << i;
  }
  EXPECT_EQ(files_in(maildir() / "new").size(), kDeliveries);
  // Two syncs ran for the first two arrivals; those who came while both ran shared the next
  // (normally all of them share one; a thread the scheduler delays between its rename and its
  // sync may need another).
  EXPECT_GE(syncs.calls, 3u);
  EXPECT_LT(syncs.calls, kDeliveries);
}

TEST_F(MaildirTransportTest, FailedDirectoryFsyncIsATemporaryFailureThatSaysWhy) {
  SyncRecorder syncs;
  syncs.error = EIO;
  MaildirTransport transport(mail_root(), "mx.example.test", syncs);
  const AttemptResult r =
      transport.attempt(message_, delivery_, MessageContent::from_text(kContent));
  EXPECT_EQ(r.outcome, AttemptResult::Outcome::temporary);
  EXPECT_TRUE(r.reply.starts_with("4.3.0 local delivery failed (fsync ")) << r.reply;
  EXPECT_NE(r.reply.find("Input/output error"), std::string::npos) << r.reply;
}

TEST_F(MaildirTransportTest, RepeatedAttemptSyncsNewBeforeCountingTheCopyDelivered) {
  SyncRecorder syncs;
  MaildirTransport transport(mail_root(), "mx.example.test", syncs);
  ASSERT_EQ(transport.attempt(message_, delivery_, MessageContent::from_text(kContent)).outcome,
            AttemptResult::Outcome::delivered);
  ASSERT_EQ(syncs.calls, 1u);
  // As after a crash between the rename and the sync: the file is there, its entry maybe
  // not yet on disk.
  const AttemptResult again =
      transport.attempt(message_, delivery_, MessageContent::from_text(kContent));
  EXPECT_EQ(again.outcome, AttemptResult::Outcome::delivered);
  EXPECT_EQ(syncs.calls, 2u);
  EXPECT_EQ(files_in(maildir() / "new").size(), 1u);
}

// A body read a piece at a time: a CRLF that two pieces split is one line end, a CR at the
// end of a piece that no LF follows stays, and a piece that cannot be read leaves nothing in
// the mailbox.
TEST_F(MaildirTransportTest, CrlfSplitBetweenPiecesBecomesOneUnixLineEnd) {
  const auto pieced = test_support::pieced_content("Subject: pieces\r\n\r\n",
                                                   "one\r\ntwo\r\nthree\rfour\r\n", {4, 8, 16});
  // Pieces: "one\r", "\ntwo", "\r\nthree\r", "four\r\n".
  const AttemptResult r = transport_.attempt(message_, delivery_, pieced.content);
  ASSERT_EQ(r.outcome, AttemptResult::Outcome::delivered) << r.reply;
  EXPECT_EQ(read_file(maildir() / "new" / expected_name()),
            "Return-Path: <sender@example.org>\n"
            "Delivered-To: alice@example.test\n"
            "Subject: pieces\n"
            "\n"
            "one\ntwo\nthree\rfour\n");
}

TEST_F(MaildirTransportTest, BodyPieceThatCannotBeReadIsTemporaryAndDeliversNothing) {
  const auto pieced =
      test_support::pieced_content("Subject: pieces\r\n\r\n", "one\r\ntwo\r\n", {5});
  pieced.body->fail_at(1);
  const AttemptResult r = transport_.attempt(message_, delivery_, pieced.content);
  EXPECT_EQ(r.outcome, AttemptResult::Outcome::temporary);
  EXPECT_TRUE(r.reply.starts_with("4.3.0 reading the message from the store failed")) << r.reply;
  EXPECT_TRUE(files_in(maildir() / "new").empty());
  EXPECT_TRUE(files_in(maildir() / "tmp").empty());
}

}  // namespace
}  // namespace herald
