#include "transport/power_loss_maildir_files.h"

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace herald::test_support {
namespace {

namespace fs = std::filesystem;

// What a machine that stopped answers: every changing call fails.
constexpr int kPowerLost = EIO;

fs::path normal(const fs::path& path) {
  return path.lexically_normal();
}

// Whether `path` is `ancestor` or lies under it.
bool within(const fs::path& path, const fs::path& ancestor) {
  const auto [end, _] = std::mismatch(ancestor.begin(), ancestor.end(), path.begin(), path.end());
  return end == ancestor.end();
}

// A file being written: every change passes admit(), and a successful sync records what it
// made durable.
class TrackedMaildirFile final : public MaildirFile {
 public:
  TrackedMaildirFile(std::unique_ptr<MaildirFile> file, PowerLossMaildirFiles& owner,
                     std::shared_ptr<PowerLossMaildirFiles::FileState> state)
      : file_(std::move(file)), owner_(owner), state_(std::move(state)) {}

  int write(std::string_view bytes) override {
    if (!owner_.admit()) return kPowerLost;
    const int error = file_->write(bytes);
    if (error == 0) owner_.grew(*state_, bytes.size());
    return error;
  }

  int sync() override {
    if (!owner_.admit()) return kPowerLost;
    // Only bytes written before the sync began are known to be covered by it.
    const uint64_t size = owner_.size_of(*state_);
    const int error = file_->sync();
    if (error == 0) owner_.synced(*state_, size);
    return error;
  }

  // Always reaches the file (its descriptor must go); makes nothing durable.
  int close() override { return file_->close(); }

 private:
  std::unique_ptr<MaildirFile> file_;
  PowerLossMaildirFiles& owner_;
  std::shared_ptr<PowerLossMaildirFiles::FileState> state_;
};

}  // namespace

PowerLossMaildirFiles::PowerLossMaildirFiles(fs::path trash) : trash_(std::move(trash)) {
  fs::create_directories(trash_);
}

void PowerLossMaildirFiles::fail_after(uint64_t operations) {
  power_.fail_after(operations);
}

bool PowerLossMaildirFiles::failed() const {
  return power_.failed();
}

uint64_t PowerLossMaildirFiles::operations() const {
  return power_.operations();
}

bool PowerLossMaildirFiles::admit() {
  return power_.admit();
}

void PowerLossMaildirFiles::grew(FileState& file, uint64_t bytes) {
  std::lock_guard lock(mutex_);
  file.size += bytes;
}

uint64_t PowerLossMaildirFiles::size_of(const FileState& file) const {
  std::lock_guard lock(mutex_);
  return file.size;
}

void PowerLossMaildirFiles::synced(FileState& file, uint64_t size) {
  std::lock_guard lock(mutex_);
  file.synced = std::max(file.synced, std::min(size, file.size));
}

void PowerLossMaildirFiles::record(Change::Kind kind, fs::path path, fs::path from,
                                   std::optional<fs::path> saved) {
  std::lock_guard lock(mutex_);
  changes_.push_back({kind, ++changes_made_, std::move(path), std::move(from), std::move(saved)});
}

fs::path PowerLossMaildirFiles::trash_name() {
  std::lock_guard lock(mutex_);
  return trash_ / std::to_string(++trash_count_);
}

void PowerLossMaildirFiles::move_state(const fs::path& from, const fs::path& to) {
  const auto found = files_.find(from);
  if (found == files_.end()) {
    files_.erase(to);
    return;
  }
  auto state = found->second;
  files_.erase(found);
  files_[to] = std::move(state);
}

void PowerLossMaildirFiles::lose_power() {
  std::lock_guard lock(mutex_);
  std::error_code ec;
  for (auto change = changes_.rbegin(); change != changes_.rend(); ++change) {
    switch (change->kind) {
      case Change::Kind::created:
        fs::remove_all(change->path, ec);
        std::erase_if(files_, [&](const auto& file) { return within(file.first, change->path); });
        break;
      case Change::Kind::renamed:
        fs::rename(change->path, change->from, ec);
        move_state(change->path, change->from);
        if (change->saved) {
          fs::rename(*change->saved, change->path, ec);
          move_state(*change->saved, change->path);
        }
        break;
      case Change::Kind::unlinked:
        fs::rename(*change->saved, change->path, ec);
        move_state(*change->saved, change->path);
        break;
    }
  }
  for (const auto& [path, state] : files_) {
    if (fs::exists(path, ec) && fs::file_size(path, ec) > state->synced) {
      fs::resize_file(path, state->synced, ec);
    }
  }
  for (const auto& entry : fs::directory_iterator(trash_)) fs::remove_all(entry.path(), ec);
  files_.clear();
  changes_.clear();
  power_.restore();
}

int PowerLossMaildirFiles::open_for_write(const fs::path& file,
                                          std::unique_ptr<MaildirFile>& opened) {
  if (!admit()) return kPowerLost;
  const fs::path path = normal(file);
  const bool existed = disk_.look_up(path) == 0;
  std::unique_ptr<MaildirFile> real;
  if (const int error = disk_.open_for_write(path, real); error != 0) return error;
  auto state = std::make_shared<FileState>();  // empty, also when it truncated a file
  {
    std::lock_guard lock(mutex_);
    files_[path] = state;
  }
  if (!existed) record(Change::Kind::created, path);
  opened = std::make_unique<TrackedMaildirFile>(std::move(real), *this, std::move(state));
  return 0;
}

int PowerLossMaildirFiles::rename(const fs::path& source, const fs::path& target) {
  if (!admit()) return kPowerLost;
  const fs::path from = normal(source);
  const fs::path to = normal(target);
  std::error_code ec;
  std::optional<fs::path> saved;
  if (fs::is_regular_file(to, ec)) {
    // A second name for the file the rename replaces, so that power loss can restore it; the
    // rename itself stays the atomic replacement the transport relies on.
    saved = trash_name();
    fs::create_hard_link(to, *saved, ec);
    if (ec) return ec.value();
  }
  if (const int error = disk_.rename(from, to); error != 0) {
    if (saved) fs::remove(*saved, ec);
    return error;
  }
  {
    std::lock_guard lock(mutex_);
    if (saved) move_state(to, *saved);
    move_state(from, to);
  }
  record(Change::Kind::renamed, to, from, saved);
  return 0;
}

int PowerLossMaildirFiles::unlink(const fs::path& file) {
  if (!admit()) return kPowerLost;
  const fs::path path = normal(file);
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(path, ec))) return disk_.unlink(path);
  // Moved aside rather than removed, so that power loss can bring it back.
  const fs::path saved = trash_name();
  if (const int error = disk_.rename(path, saved); error != 0) return error;
  {
    std::lock_guard lock(mutex_);
    move_state(path, saved);
  }
  record(Change::Kind::unlinked, path, {}, saved);
  return 0;
}

int PowerLossMaildirFiles::make_directory(const fs::path& dir) {
  if (!admit()) return kPowerLost;
  const fs::path path = normal(dir);
  if (const int error = disk_.make_directory(path); error != 0) return error;
  record(Change::Kind::created, path);
  return 0;
}

int PowerLossMaildirFiles::sync_directory(const fs::path& dir, std::string& failed_step) {
  if (!admit()) {
    failed_step = "fsync";
    return kPowerLost;
  }
  const fs::path path = normal(dir);
  // A change made while the fsync runs may have missed it: only those before it began count.
  uint64_t covered = 0;
  {
    std::lock_guard lock(mutex_);
    covered = changes_made_;
  }
  if (const int error = disk_.sync_directory(path, failed_step); error != 0) return error;
  std::lock_guard lock(mutex_);
  std::erase_if(changes_, [&](const Change& change) {
    if (change.number > covered || change.path.parent_path() != path) return false;
    if (change.saved) {
      // The removal of the unlinked or replaced file is durable now: it cannot come back.
      std::error_code ignored;
      fs::remove(*change.saved, ignored);
      files_.erase(*change.saved);
    }
    return true;
  });
  return 0;
}

int PowerLossMaildirFiles::look_up(const fs::path& entry) {
  return disk_.look_up(entry);
}

int PowerLossMaildirFiles::scan_directory(const fs::path& dir,
                                          const std::function<bool(std::string_view name)>& visit,
                                          std::string& failed_step) {
  return disk_.scan_directory(dir, visit, failed_step);
}

}  // namespace herald::test_support
