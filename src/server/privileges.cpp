#include "server/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <stdexcept>

namespace herald {
namespace {

namespace fs = std::filesystem;

std::string octal_mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

std::string owner_name(uid_t uid) {
  const passwd* pw = ::getpwuid(uid);
  return pw != nullptr ? pw->pw_name : std::to_string(uid);
}

// Whether `run_as` holds the permission `bits` names (one of r=4, w=2, x=1 or their sum)
// on a file with status `st`, as the kernel decides it: owner bits for the owner, else
// group bits for a member of the group, else the others' bits.
bool permitted(const struct stat& st, const RunAs& run_as, unsigned bits) {
  unsigned granted = 0;
  if (st.st_uid == run_as.uid) {
    granted = (st.st_mode >> 6) & 7;
  } else if (std::find(run_as.groups.begin(), run_as.groups.end(), st.st_gid) !=
             run_as.groups.end()) {
    granted = (st.st_mode >> 3) & 7;
  } else {
    granted = st.st_mode & 7;
  }
  return (granted & bits) == bits;
}

[[noreturn]] void refuse(const RunAs& run_as, const fs::path& path, const struct stat& st,
                         const std::string& what, const std::string& fix) {
  throw std::runtime_error(path.string() + " is not " + what + " by user " + run_as.user +
                           " (uid " + std::to_string(run_as.uid) + "; it is owned by " +
                           owner_name(st.st_uid) + ", mode " + octal_mode(st.st_mode) +
                           "); run: " + fix);
}

// The directory's status, or nullopt when it does not exist. Throws for other failures.
std::optional<struct stat> status_of(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return st;
  if (errno == ENOENT) return std::nullopt;
  throw std::runtime_error("cannot check " + path.string() + ": " + std::strerror(errno));
}

bool is_maildir_leaf(const fs::path& path) {
  const std::string name = path.filename().string();
  return name == "new" || name == "cur" || name == "tmp";
}

}  // namespace

std::optional<RunAs> resolve_run_as(const Config& config, const std::string& default_user) {
  const ServerConfig& server = config.server;
  const bool started_as_root = ::geteuid() == 0;
  // Not set: started as root, root is given up all the same, for the default user; started
  // as anyone else, that is who heraldd runs as.
  if (server.user.empty() && !started_as_root) return std::nullopt;
  const std::string user = server.user.empty() ? default_user : server.user;
  const std::string file = config.source.filename().string();
  RunAs run_as;
  const passwd* pw = ::getpwnam(user.c_str());
  if (pw == nullptr && server.user.empty()) {
    // Carrying on as root instead would run every session with root's rights unasked.
    const std::string make_user = "adduser --system --group --no-create-home " + user;
    throw ConfigError(file + ": [server] user is not set and its default '" + user +
                      "' is not a user on this system; heraldd started as root does not stay "
                      "root unless told to. Make the user (scripts/bootstrap does: " +
                      make_user + "), or set [server] user to an unprivileged user (or to " +
                      "\"root\" to stay root)");
  }
  if (pw == nullptr) {
    throw ConfigError(file + ": [server] user '" + user +
                      "' is not a user on this system (scripts/bootstrap makes 'herald': "
                      "adduser --system --group --no-create-home herald)");
  }
  run_as.user = user;
  run_as.uid = pw->pw_uid;
  run_as.gid = pw->pw_gid;
  // Asked for by name: heraldd stays root (and says so). Nothing to give up, nothing to chown.
  if (run_as.uid == 0 && started_as_root) return std::nullopt;
  if (!server.group.empty()) {
    const group* gr = ::getgrnam(server.group.c_str());
    if (gr == nullptr) {
      throw ConfigError(file + ": [server] group '" + server.group +
                        "' is not a group on this system");
    }
    run_as.gid = gr->gr_gid;
  }
  const group* primary = ::getgrgid(run_as.gid);
  run_as.group = primary != nullptr ? primary->gr_name : std::to_string(run_as.gid);

  int count = 16;
  run_as.groups.resize(static_cast<size_t>(count));
  while (::getgrouplist(run_as.user.c_str(), run_as.gid, run_as.groups.data(), &count) < 0) {
    run_as.groups.resize(static_cast<size_t>(count));
  }
  run_as.groups.resize(static_cast<size_t>(count));

  if (::geteuid() != 0 && ::geteuid() != run_as.uid) {
    throw std::runtime_error("heraldd runs as " + owner_name(::geteuid()) +
                             ", which cannot become [server] user " + run_as.user +
                             ": start heraldd as root or as " + run_as.user);
  }
  return run_as;
}

void check_writable_by(const RunAs& run_as, const fs::path& data_dir) {
  const std::string chown_fix =
      "chown -R " + run_as.user + ":" + run_as.group + " " + data_dir.string();
  // Every directory above data_dir must let the user pass (a 0700 /root would not).
  fs::path above;
  for (const fs::path& part : data_dir.parent_path()) {
    above /= part;
    const auto st = status_of(above);
    if (!st) break;
    if (!permitted(*st, run_as, 1))
      refuse(run_as, above, *st, "searchable", "chmod o+x " + above.string());
  }
  const auto top = status_of(data_dir);
  if (!top) return;
  if (!permitted(*top, run_as, 3)) refuse(run_as, data_dir, *top, "writable", chown_fix);
  // The store's directory, the generated TLS pair's and every directory of the mailbox
  // root, down to each Maildir's new/, cur/ and tmp/ (whose messages are never rewritten,
  // only renamed in, so they are not read here: a large mailbox costs nothing).
  for (auto it = fs::recursive_directory_iterator(data_dir);
       it != fs::recursive_directory_iterator(); ++it) {
    if (!it->is_directory()) continue;
    const auto st = status_of(it->path());
    if (!st) continue;
    if (!permitted(*st, run_as, 3)) refuse(run_as, it->path(), *st, "writable", chown_fix);
    if (is_maildir_leaf(it->path())) it.disable_recursion_pending();
  }
}

namespace {

bool holds_only_herald_data(const fs::path& data_dir) {
  static const std::set<std::string> kOwn = {"store", "mail", "tls", "srs.secret", "control.sock"};
  for (const auto& entry : fs::directory_iterator(data_dir)) {
    if (!kOwn.contains(entry.path().filename().string())) return false;
  }
  return true;
}

void change_owner(const RunAs& run_as, const fs::path& path) {
  if (::lchown(path.c_str(), run_as.uid, run_as.gid) != 0) {
    throw std::runtime_error("cannot chown " + path.string() + " to " + run_as.user + ": " +
                             std::strerror(errno));
  }
}

}  // namespace

size_t adopt_data_dir(const RunAs& run_as, const fs::path& data_dir) {
  if (::geteuid() != 0) return 0;
  const auto top = status_of(data_dir);
  if (!top || top->st_uid == run_as.uid || !holds_only_herald_data(data_dir)) return 0;
  size_t changed = 0;
  change_owner(run_as, data_dir);
  ++changed;
  for (auto it = fs::recursive_directory_iterator(data_dir);
       it != fs::recursive_directory_iterator(); ++it) {
    change_owner(run_as, it->path());
    ++changed;
  }
  return changed;
}

void give_to(const RunAs& run_as, const fs::path& path) {
  if (::geteuid() != 0) return;
  if (::chown(path.c_str(), run_as.uid, run_as.gid) != 0) {
    throw std::runtime_error("cannot chown " + path.string() + " to " + run_as.user + ": " +
                             std::strerror(errno));
  }
}

void give_to_if_present(const RunAs& run_as, const fs::path& path) {
  if (::geteuid() != 0) return;
  if (::chown(path.c_str(), run_as.uid, run_as.gid) != 0 && errno != ENOENT) {
    throw std::runtime_error("cannot chown " + path.string() + " to " + run_as.user + ": " +
                             std::strerror(errno));
  }
}

void drop_privileges(const RunAs& run_as) {
  if (::geteuid() == run_as.uid && ::getuid() == run_as.uid) return;
  const auto fail = [&](const char* step) {
    throw std::runtime_error(std::string("cannot run as ") + run_as.user + ": " + step +
                             " failed: " + std::strerror(errno));
  };
  if (::setgroups(run_as.groups.size(), run_as.groups.data()) != 0) fail("setgroups");
  if (::setgid(run_as.gid) != 0) fail("setgid");
  if (::setuid(run_as.uid) != 0) fail("setuid");
  if (::getuid() != run_as.uid || ::geteuid() != run_as.uid || ::getgid() != run_as.gid ||
      ::getegid() != run_as.gid) {
    throw std::runtime_error("cannot run as " + run_as.user + ": the ids did not change");
  }
  // The proof that root is gone for good, not just set aside in a saved set-user-ID.
  if (::setuid(0) == 0) {
    throw std::runtime_error("cannot run as " + run_as.user + ": setuid(0) still succeeds");
  }
}

}  // namespace herald
