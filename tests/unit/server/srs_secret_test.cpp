#include "server/srs_secret.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "../support/temp_dir.h"

namespace herald {
namespace {

class SrsSecretTest : public ::testing::Test {
 protected:
  SrsSecretTest() {
    config_.source = dir_.path() / "herald.toml";
    config_.server.data_dir = dir_.path();
  }

  test_support::TempDir dir_;
  Config config_;
};

TEST_F(SrsSecretTest, WithoutAConfiguredSecretOneIsGeneratedPrivatelyAndReused) {
  const std::string first = load_srs_secret(config_);
  EXPECT_EQ(first.size(), 64u);  // 32 random octets in hex
  struct stat st {};
  ASSERT_EQ(::stat((dir_.path() / "srs.secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(load_srs_secret(config_), first) << "a restart signs as before";
}

TEST_F(SrsSecretTest, ConfiguredSecretIsUsedAndNothingIsWritten) {
  config_.srs.secret = "from the file";
  EXPECT_EQ(load_srs_secret(config_), "from the file");
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "srs.secret"));
}

TEST_F(SrsSecretTest, SecretFileIsReadWithoutItsLineEnd) {
  config_.srs.secret_file = dir_.path() / "srs.key";
  std::ofstream(config_.srs.secret_file) << "kept secret\n";
  EXPECT_EQ(load_srs_secret(config_), "kept secret");
}

TEST_F(SrsSecretTest, MissingOrEmptySecretFileIsAnError) {
  config_.srs.secret_file = dir_.path() / "srs.key";
  EXPECT_THROW(load_srs_secret(config_), std::runtime_error);
  std::ofstream(config_.srs.secret_file) << "\n";
  EXPECT_THROW(load_srs_secret(config_), ConfigError);
}

}  // namespace
}  // namespace herald
