// The model of PowerLossFileSystem, file by file: what a power failure keeps and undoes.
#include "store/power_loss_file_system.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <thread>

#include "support/temp_dir.h"

namespace herald {
namespace {

namespace fs = std::filesystem;
using test_support::PowerLossFileSystem;
using test_support::TempDir;

class PowerLossFileSystemTest : public ::testing::Test {
 protected:
  PowerLossFileSystemTest() : file_system_(temp_.path() / "trash") {
    fs::create_directory(dir());
    directory_ = open_directory();
  }

  fs::path dir() const { return temp_.path() / "db"; }
  std::string path(const std::string& name) const { return (dir() / name).string(); }

  std::unique_ptr<rocksdb::FSDirectory> open_directory() {
    std::unique_ptr<rocksdb::FSDirectory> directory;
    EXPECT_TRUE(file_system_.NewDirectory(dir().string(), {}, &directory, nullptr).ok());
    return directory;
  }

  // Writes `text` into a new file `name`, syncing the first `synced` bytes.
  void write(const std::string& name, const std::string& text, size_t synced) {
    std::unique_ptr<rocksdb::FSWritableFile> file;
    ASSERT_TRUE(file_system_.NewWritableFile(path(name), {}, &file, nullptr).ok());
    ASSERT_TRUE(file->Append(text.substr(0, synced), {}, nullptr).ok());
    ASSERT_TRUE(file->Sync({}, nullptr).ok());
    ASSERT_TRUE(file->Append(text.substr(synced), {}, nullptr).ok());
    ASSERT_TRUE(file->Close({}, nullptr).ok());
  }

  void sync_directory() { ASSERT_TRUE(directory_->Fsync({}, nullptr).ok()); }

  // The file's bytes; "(none)" when it does not exist.
  std::string read(const std::string& name) const {
    std::ifstream in(dir() / name, std::ios::binary);
    if (!in) return "(none)";
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // The power failure, with nothing using the file system.
  void lose_power() {
    directory_.reset();
    file_system_.lose_power();
    directory_ = open_directory();
  }

  TempDir temp_;
  PowerLossFileSystem file_system_;
  std::unique_ptr<rocksdb::FSDirectory> directory_;
};

TEST_F(PowerLossFileSystemTest, PowerLossKeepsOnlyTheSyncedBytesOfAFileInADurableEntry) {
  write("a", "synced+unsynced", 6);
  sync_directory();
  lose_power();
  EXPECT_EQ(read("a"), "synced");
}

TEST_F(PowerLossFileSystemTest, PowerLossRemovesAFileCreatedSinceItsDirectoryWasSynced) {
  write("a", "all synced", 10);
  lose_power();
  EXPECT_EQ(read("a"), "(none)");
}

TEST_F(PowerLossFileSystemTest, PowerLossRevertsARenameNotMadeDurable) {
  write("current", "old", 3);
  write("tmp", "new", 3);
  sync_directory();
  ASSERT_TRUE(file_system_.RenameFile(path("tmp"), path("current"), {}, nullptr).ok());
  EXPECT_EQ(read("current"), "new");
  lose_power();
  EXPECT_EQ(read("current"), "old");
  EXPECT_EQ(read("tmp"), "new");
}

TEST_F(PowerLossFileSystemTest, PowerLossKeepsARenameWhoseDirectoryWasSynced) {
  write("current", "old", 3);
  write("tmp", "new", 3);
  sync_directory();
  ASSERT_TRUE(file_system_.RenameFile(path("tmp"), path("current"), {}, nullptr).ok());
  sync_directory();
  lose_power();
  EXPECT_EQ(read("current"), "new");
  EXPECT_EQ(read("tmp"), "(none)");
}

TEST_F(PowerLossFileSystemTest, PowerLossBringsBackAFileDeletedWithoutADirectorySync) {
  write("a", "kept", 4);
  write("b", "gone", 4);
  sync_directory();
  ASSERT_TRUE(file_system_.DeleteFile(path("a"), {}, nullptr).ok());
  ASSERT_TRUE(file_system_.DeleteFile(path("b"), {}, nullptr).ok());
  EXPECT_EQ(read("a"), "(none)");
  lose_power();
  EXPECT_EQ(read("a"), "kept");
  EXPECT_EQ(read("b"), "gone");
}

TEST_F(PowerLossFileSystemTest, AfterPowerFailsNothingReachesTheDisk) {
  write("a", "before", 6);
  sync_directory();
  std::unique_ptr<rocksdb::FSWritableFile> file;
  ASSERT_TRUE(file_system_.ReopenWritableFile(path("a"), {}, &file, nullptr).ok());
  file_system_.fail_after(1);
  EXPECT_TRUE(file->Append(" and", {}, nullptr).ok());
  EXPECT_TRUE(file->Sync({}, nullptr).IsIOError());
  EXPECT_TRUE(file->Append(" after", {}, nullptr).IsIOError());
  EXPECT_TRUE(file_system_.DeleteFile(path("a"), {}, nullptr).IsIOError());
  EXPECT_TRUE(file_system_.failed());
  EXPECT_EQ(read("a"), "before and");  // in the page cache, not durable
  file.reset();
  lose_power();
  EXPECT_EQ(read("a"), "before");
  EXPECT_EQ(file_system_.unmodelled_calls(), 0u);
}

// The machine stops at a call that then waits; the copy taken meanwhile is the disk as the
// failure leaves it (unsynced bytes gone, an undurable rename undone, a deleted file back),
// and afterwards the held call and the ones after it reach the disk as usual.
TEST_F(PowerLossFileSystemTest, AStopHoldsCallsWhileTheDiskAfterPowerFailureIsCopied) {
  write("a", "synced+unsynced", 6);
  write("current", "old", 3);
  write("tmp", "new", 3);
  write("deleted", "back", 4);
  sync_directory();
  ASSERT_TRUE(file_system_.RenameFile(path("tmp"), path("current"), {}, nullptr).ok());
  ASSERT_TRUE(file_system_.DeleteFile(path("deleted"), {}, nullptr).ok());
  std::unique_ptr<rocksdb::FSWritableFile> file;
  ASSERT_TRUE(file_system_.ReopenWritableFile(path("a"), {}, &file, nullptr).ok());
  file_system_.stop_after(0);
  EXPECT_FALSE(file_system_.stopped());
  std::thread writer([&] { EXPECT_TRUE(file->Append(" held", {}, nullptr).ok()); });
  ASSERT_TRUE(file_system_.wait_for_stop(std::chrono::seconds(10)));
  EXPECT_TRUE(file_system_.stopped());
  EXPECT_EQ(read("a"), "synced+unsynced");  // the held append has not reached it
  const fs::path image = temp_.path() / "image";
  file_system_.disk_after_power_failure(dir(), image);
  writer.join();
  EXPECT_EQ(read("a"), "synced+unsynced held");
  EXPECT_EQ(read("current"), "new");
  EXPECT_EQ(read("deleted"), "(none)");
  const auto in_image = [&](const std::string& name) {
    std::ifstream in(image / name, std::ios::binary);
    return in ? std::string(std::istreambuf_iterator<char>(in), {}) : "(none)";
  };
  EXPECT_EQ(in_image("a"), "synced");
  EXPECT_EQ(in_image("current"), "old");
  EXPECT_EQ(in_image("tmp"), "new");
  EXPECT_EQ(in_image("deleted"), "back");
  EXPECT_EQ(file_system_.unmodelled_calls(), 0u);
}

}  // namespace
}  // namespace herald
