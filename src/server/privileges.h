// Who heraldd runs as ([server] user and group). Started as root, it opens what needs root
// (ports below 1024, keys only root may read, the store), then gives root up for good
// before any session or delivery runs, as Postfix's daemons do after their chroot and
// before serving. Started as that user already (with CAP_NET_BIND_SERVICE for the low
// ports), there is nothing to give up and it runs the same.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"

namespace herald {

struct RunAs {
  std::string user;
  std::string group;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // the user's supplementary groups, the primary one included
};

// The user heraldd started as root runs as when [server] user is not set (scripts/bootstrap
// makes it).
inline constexpr const char* kDefaultUser = "herald";

// The account [server] user and group name, looked up in the system's user database; when
// the user is not set, kDefaultUser if heraldd was started as root. nullopt when there is
// nothing to become: no user set and not started as root, or `user = "root"` and started as
// root (it stays root; the caller warns). Throws ConfigError naming the user or group when
// it does not exist (for the default user too: started as root, heraldd never stays root
// because a user is missing), or std::runtime_error when heraldd runs as neither root nor
// that user (it could not become it: "start heraldd as root or as USER"). `default_user`
// stands in for kDefaultUser in tests.
std::optional<RunAs> resolve_run_as(const Config& config,
                                    const std::string& default_user = kDefaultUser);

// Checks that the user can reach and write each directory heraldd will write after the
// drop: `data_dir` (and every directory above it can be searched), and the directories below
// the store and the mailbox root, data_dir/mail (new/, cur/ and tmp/ are checked, not the
// messages inside). Absent directories are skipped: they will be made by that user. Throws
// std::runtime_error naming the first path that fails and the command that fixes it
// ("chown -R herald:herald /var/lib/herald").
void check_writable_by(const RunAs& run_as, const std::filesystem::path& data_dir);

// The first start as the user over a data_dir that root's heraldd filled (an upgrade from a
// herald that ran as root): when heraldd runs as root and `data_dir` is not the user's but
// holds only what heraldd keeps there (store, mail, tls, srs.secret, control.sock), it and
// everything in it become the user's (lchown, links not followed), once, with a log line;
// later starts find it the user's and walk nothing. A data_dir holding anything else is left
// alone (check_writable_by then says what to run): herald never chowns what is not its own.
// Returns how many entries changed owner. Throws std::runtime_error naming a path that fails.
size_t adopt_data_dir(const RunAs& run_as, const std::filesystem::path& data_dir);

// Makes `path` (a file heraldd made as root inside data_dir, e.g. the generated TLS pair)
// the user's, so that a reload after the drop can read it again. Does nothing when not
// root. Throws std::runtime_error naming the path on failure.
void give_to(const RunAs& run_as, const std::filesystem::path& path);

// The same for a file the open store may delete meanwhile (an obsolete table file its
// background work removes after opening): one that is gone by the time it is reached is
// nobody's to give, and is passed over.
void give_to_if_present(const RunAs& run_as, const std::filesystem::path& path);

// initgroups, setgid and setuid to `run_as`, then verifies that the real and effective ids
// are the user's and that setuid(0) now fails. Process-wide (glibc applies set*id to every
// thread), but call it before any session or delivery starts: nothing that speaks a
// protocol may have run as root. Does nothing when already running as the user. Throws
// std::runtime_error on any failure; the caller must then exit, not carry on as root.
void drop_privileges(const RunAs& run_as);

}  // namespace herald
