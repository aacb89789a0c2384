// Group commit for directory fsyncs: deliveries that rename files into the same directory at
// about the same time share one fsync of it instead of paying one each (the same idea as a
// database's shared log fsync). Maildir delivery uses it for new/.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace herald {

// Makes a directory's entries durable: open + fsync + close of the directory. Returns 0, or
// the errno of the step that failed (named in `failed_step`: "open", "fsync").
using DirectorySyncFunction =
    std::function<int(const std::filesystem::path& dir, std::string& failed_step)>;

// The real one: open(O_DIRECTORY) and fsync(2).
int fsync_directory(const std::filesystem::path& dir, std::string& failed_step);

class DirectorySyncGroups {
 public:
  explicit DirectorySyncGroups(DirectorySyncFunction sync = fsync_directory);

  // Returns once a sync of `dir` that started after this call began has completed, so that
  // every change the caller made in `dir` before calling is durable. Whoever finds no sync of
  // `dir` in progress runs one (the leader); whoever arrives while one runs waits for the next,
  // which one of the waiters then runs for them all. Returns 0, or the errno of a failed sync
  // that could have covered the caller (any failure since it arrived: after a failed fsync the
  // kernel may have dropped the changes, so a later success proves nothing); `failed_step`
  // names the step. Thread-safe; blocks for at most two syncs of `dir`.
  int sync(const std::filesystem::path& dir, std::string& failed_step);

 private:
  struct Directory {
    uint64_t started = 0;    // syncs begun
    uint64_t completed = 0;  // syncs ended (they end in the order they began)
    bool in_progress = false;
    uint64_t last_failed = 0;  // the last sync that failed (0: none)
    int last_error = 0;
    std::string last_failed_step;
    unsigned callers = 0;  // in sync() now: the entry is dropped when the last one leaves
    std::condition_variable ended;
  };

  DirectorySyncFunction sync_;
  std::mutex mutex_;  // guards directories_ and every Directory; never held during a sync
  std::map<std::string, std::unique_ptr<Directory>> directories_;
};

}  // namespace herald
