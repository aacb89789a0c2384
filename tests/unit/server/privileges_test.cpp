// Who heraldd runs as when [server] user is left out or names root (server/privileges.h).
// Started as root, a missing user is never a reason to stay root.
#include "server/privileges.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace herald {
namespace {

Config with_server_lines(const std::string& lines) {
  return parse_config(R"(
[server]
hostname = "mx.example.test"
data_dir = "var"
)" + lines + R"(
[[listen]]
address = "127.0.0.1:2525"
[[domain]]
name = "example.test"
)",
                      "/etc/herald/herald.toml");
}

TEST(ResolveRunAs, StartedAsRootWithoutAUserAMissingDefaultUserStopsTheStartNamingTheKey) {
  if (::geteuid() != 0) GTEST_SKIP() << "the default user applies only when started as root";
  try {
    resolve_run_as(with_server_lines(""), "no-such-herald-user");
    FAIL() << "a missing default user was accepted";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("herald.toml: [server] user is not set and its default "
                        "'no-such-herald-user' is not a user on this system"),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("adduser --system --group --no-create-home no-such-herald-user"),
              std::string::npos)
        << what;
  }
}

TEST(ResolveRunAs, StartedAsRootUserRootKeepsRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs to be started as root";
  EXPECT_FALSE(resolve_run_as(with_server_lines("user = \"root\"\n")).has_value());
}

TEST(ResolveRunAs, StartedAsAnyoneElseWithoutAUserNothingIsGivenUp) {
  if (::geteuid() == 0) GTEST_SKIP() << "needs to be started as a user other than root";
  EXPECT_FALSE(resolve_run_as(with_server_lines(""), "no-such-herald-user").has_value());
}

// The store deletes obsolete table files in the background after it opens, while the daemon
// gives its files to the user: one gone by then is passed over, not a reason to stop.
TEST(GiveTo, AStoreFileThatVanishedIsPassedOver) {
  if (::geteuid() != 0) GTEST_SKIP() << "chown needs root";
  const RunAs self{.user = "root", .group = "root", .uid = 0, .gid = 0, .groups = {}};
  const std::filesystem::path gone = std::filesystem::temp_directory_path() / "herald-no-such-file";
  EXPECT_NO_THROW(give_to_if_present(self, gone));
  EXPECT_THROW(give_to(self, gone), std::runtime_error);
}

}  // namespace
}  // namespace herald
