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

// Makes a directory's entries durable (MaildirFiles::sync_directory in Maildir delivery).
// Returns 0, or the errno of the step that failed (named in `failed_step`: "open", "fsync").
using DirectorySyncFunction =
    std::function<int(const std::filesystem::path& dir, std::string& failed_step)>;

class DirectorySyncGroups {
 public:
  // At most `max_in_flight` (>= 1) syncs of one directory run at once. 1 is the classic group
  // commit: whoever arrives while a sync runs waits for the next. With 2, a caller that finds
  // one sync running starts the next at once, as it would without grouping, and only callers
  // that find both running wait and share: two deliveries into one Maildir (the queue's
  // default per-mailbox concurrency) are then never serialized behind each other's sync.
  explicit DirectorySyncGroups(DirectorySyncFunction sync, unsigned max_in_flight = 2);

  // Returns once a sync of `dir` that started after this call began has completed, so that
  // every change the caller made in `dir` before calling is durable. A caller that finds no
  // sync started since it arrived, and a free slot, runs one (the leader) for every caller
  // waiting; the others wait for it. Returns 0, or the errno of a failed sync that could have
  // covered the caller (any failure since it arrived: after a failed fsync the kernel may have
  // dropped the changes, so a later success proves nothing); `failed_step` names the step.
  // Thread-safe; blocks for at most two syncs of `dir`.
  int sync(const std::filesystem::path& dir, std::string& failed_step);

 private:
  struct Directory {
    uint64_t started = 0;        // syncs begun; each one's number is its generation
    uint64_t max_completed = 0;  // the highest generation that has ended (they may end out of
                                 // order): it covers every caller that arrived before it began
    unsigned in_flight = 0;
    uint64_t last_failed = 0;  // the highest generation that failed (0: none)
    int last_error = 0;
    std::string last_failed_step;
    unsigned callers = 0;  // in sync() now: the entry is dropped when the last one leaves
    std::condition_variable ended;
  };

  DirectorySyncFunction sync_;
  unsigned max_in_flight_;
  std::mutex mutex_;  // guards directories_ and every Directory; never held during a sync
  std::map<std::string, std::unique_ptr<Directory>> directories_;
};

}  // namespace herald
