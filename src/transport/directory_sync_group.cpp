#include "transport/directory_sync_group.h"

#include <algorithm>

namespace herald {

DirectorySyncGroups::DirectorySyncGroups(DirectorySyncFunction sync, unsigned max_in_flight)
    : sync_(std::move(sync)), max_in_flight_(max_in_flight == 0 ? 1 : max_in_flight) {}

int DirectorySyncGroups::sync(const std::filesystem::path& dir, std::string& failed_step) {
  std::unique_lock lock(mutex_);
  std::unique_ptr<Directory>& slot = directories_[dir.string()];
  if (!slot) slot = std::make_unique<Directory>();
  Directory& d = *slot;
  ++d.callers;
  // A sync already running may have read the directory before our change: only one that
  // starts from now on is sure to include it.
  const uint64_t needed = d.started + 1;
  while (d.max_completed < needed) {
    // One started since we arrived covers us too; else we start one when a slot is free.
    if (d.started >= needed || d.in_flight >= max_in_flight_) {
      d.ended.wait(lock);
      continue;
    }
    const uint64_t generation = ++d.started;
    ++d.in_flight;
    lock.unlock();
    std::string step;
    const int error = sync_(dir, step);
    lock.lock();
    --d.in_flight;
    d.max_completed = std::max(d.max_completed, generation);
    if (error != 0 && generation > d.last_failed) {
      d.last_failed = generation;
      d.last_error = error;
      d.last_failed_step = step;
    }
    d.ended.notify_all();
  }
  const int error = d.last_failed >= needed ? d.last_error : 0;
  if (error != 0) failed_step = d.last_failed_step;
  if (--d.callers == 0) directories_.erase(dir.string());
  return error;
}

}  // namespace herald
