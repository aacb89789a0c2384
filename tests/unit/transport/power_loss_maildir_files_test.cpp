// The model of PowerLossMaildirFiles, call by call: what a power failure keeps and undoes.
#include "transport/power_loss_maildir_files.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <fstream>
#include <iterator>

#include "support/temp_dir.h"

namespace herald {
namespace {

namespace fs = std::filesystem;
using test_support::PowerLossMaildirFiles;
using test_support::TempDir;

class PowerLossMaildirFilesTest : public ::testing::Test {
 protected:
  PowerLossMaildirFilesTest() : files_(temp_.path() / "trash") { fs::create_directory(dir()); }

  fs::path dir() const { return temp_.path() / "maildir"; }

  // Writes `text` into a new file `name`, syncing the first `synced` bytes.
  void write(const fs::path& file, const std::string& text, size_t synced) {
    std::unique_ptr<MaildirFile> opened;
    ASSERT_EQ(files_.open_for_write(file, opened), 0);
    ASSERT_EQ(opened->write(text.substr(0, synced)), 0);
    ASSERT_EQ(opened->sync(), 0);
    ASSERT_EQ(opened->write(text.substr(synced)), 0);
    ASSERT_EQ(opened->close(), 0);
  }

  void sync(const fs::path& directory) {
    std::string step;
    ASSERT_EQ(files_.sync_directory(directory, step), 0) << step;
  }

  // The file's bytes; "(none)" when it does not exist.
  static std::string read(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return "(none)";
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  TempDir temp_;
  PowerLossMaildirFiles files_;
};

TEST_F(PowerLossMaildirFilesTest, BytesPastTheLastFileSyncAreLost) {
  write(dir() / "a", "synced|unsynced", 6);
  sync(dir());
  files_.lose_power();
  EXPECT_EQ(read(dir() / "a"), "synced");
}

TEST_F(PowerLossMaildirFilesTest, FileCreatedWithoutADirectorySyncDisappears) {
  write(dir() / "a", "whole", 5);
  files_.lose_power();
  EXPECT_EQ(read(dir() / "a"), "(none)");
}

TEST_F(PowerLossMaildirFilesTest, RenameIsRevertedUntilTheTargetDirectoryIsSynced) {
  fs::create_directory(dir() / "tmp");
  fs::create_directory(dir() / "new");
  write(dir() / "tmp" / "a", "whole", 5);
  ASSERT_EQ(files_.rename(dir() / "tmp" / "a", dir() / "new" / "a"), 0);
  sync(dir() / "tmp");  // the source's directory is not the one that counts
  files_.lose_power();
  EXPECT_EQ(read(dir() / "new" / "a"), "(none)");

  write(dir() / "tmp" / "b", "whole", 5);
  ASSERT_EQ(files_.rename(dir() / "tmp" / "b", dir() / "new" / "b"), 0);
  sync(dir() / "new");
  files_.lose_power();
  EXPECT_EQ(read(dir() / "new" / "b"), "whole");
}

TEST_F(PowerLossMaildirFilesTest, NewDirectoryWithItsFilesDisappearsUntilItsParentIsSynced) {
  ASSERT_EQ(files_.make_directory(dir() / "new"), 0);
  write(dir() / "new" / "a", "whole", 5);
  sync(dir() / "new");
  files_.lose_power();
  EXPECT_FALSE(fs::exists(dir() / "new"));

  ASSERT_EQ(files_.make_directory(dir() / "new"), 0);
  sync(dir());
  files_.lose_power();
  EXPECT_TRUE(fs::is_directory(dir() / "new"));
}

TEST_F(PowerLossMaildirFilesTest, UnlinkedFileComesBackUntilTheDirectoryIsSynced) {
  std::ofstream(dir() / "a") << "from before";
  ASSERT_EQ(files_.unlink(dir() / "a"), 0);
  EXPECT_FALSE(fs::exists(dir() / "a"));
  files_.lose_power();
  EXPECT_EQ(read(dir() / "a"), "from before");

  ASSERT_EQ(files_.unlink(dir() / "a"), 0);
  sync(dir());
  files_.lose_power();
  EXPECT_EQ(read(dir() / "a"), "(none)");
}

TEST_F(PowerLossMaildirFilesTest, TruncatedFileComesBackEmptyUnlessSynced) {
  std::ofstream(dir() / "a") << "from before";
  std::unique_ptr<MaildirFile> opened;
  ASSERT_EQ(files_.open_for_write(dir() / "a", opened), 0);
  ASSERT_EQ(opened->write("new"), 0);
  ASSERT_EQ(opened->close(), 0);
  files_.lose_power();
  EXPECT_EQ(read(dir() / "a"), "");
}

TEST_F(PowerLossMaildirFilesTest, AfterTheFailPointEveryChangingCallFailsWithEioAndChangesNothing) {
  files_.fail_after(2);
  std::unique_ptr<MaildirFile> opened;
  ASSERT_EQ(files_.open_for_write(dir() / "a", opened), 0);
  ASSERT_EQ(opened->write("let through"), 0);
  EXPECT_FALSE(files_.failed());

  EXPECT_EQ(opened->write("more"), EIO);
  EXPECT_EQ(opened->sync(), EIO);
  EXPECT_EQ(opened->close(), 0) << "a descriptor can always be closed";
  EXPECT_EQ(files_.make_directory(dir() / "new"), EIO);
  EXPECT_EQ(files_.rename(dir() / "a", dir() / "b"), EIO);
  EXPECT_EQ(files_.unlink(dir() / "a"), EIO);
  std::string step;
  EXPECT_EQ(files_.sync_directory(dir(), step), EIO);
  EXPECT_EQ(step, "fsync");
  EXPECT_TRUE(files_.failed());
  EXPECT_EQ(read(dir() / "a"), "let through");
  EXPECT_FALSE(fs::exists(dir() / "new"));
  // Reads still work, so that deliveries can wind down.
  EXPECT_EQ(files_.look_up(dir() / "a"), 0);

  files_.lose_power();
  EXPECT_FALSE(files_.failed());
  EXPECT_EQ(read(dir() / "a"), "(none)");
}

}  // namespace
}  // namespace herald
