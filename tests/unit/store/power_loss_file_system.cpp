#include "store/power_loss_file_system.h"

#include <algorithm>
#include <stdexcept>
#include <system_error>

namespace herald::test_support {
namespace {

namespace fs = std::filesystem;
using rocksdb::IOStatus;

IOStatus power_lost() {
  return IOStatus::IOError("power lost (PowerLossFileSystem)");
}

IOStatus from_error(const std::error_code& ec, const fs::path& path) {
  return IOStatus::IOError(path.string() + ": " + ec.message());
}

// A file being written: every change passes the file system's admit(), and a successful
// Sync records what it made durable.
class TrackedWritableFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  TrackedWritableFile(std::unique_ptr<rocksdb::FSWritableFile> file, PowerLossFileSystem& owner,
                      std::shared_ptr<PowerLossFileSystem::FileState> state)
      : FSWritableFileOwnerWrapper(std::move(file)), owner_(owner), state_(std::move(state)) {}

  IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                  rocksdb::IODebugContext* dbg) override {
    const auto admitted = owner_.admit();
    if (!admitted) return power_lost();
    IOStatus status = target()->Append(data, options, dbg);
    if (status.ok()) owner_.grew(*state_, data.size());
    return status;
  }
  IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                  const rocksdb::DataVerificationInfo& info,
                  rocksdb::IODebugContext* dbg) override {
    const auto admitted = owner_.admit();
    if (!admitted) return power_lost();
    IOStatus status = target()->Append(data, options, info, dbg);
    if (status.ok()) owner_.grew(*state_, data.size());
    return status;
  }
  IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                            const rocksdb::IOOptions& options,
                            rocksdb::IODebugContext* dbg) override {
    const auto admitted = owner_.admit();
    if (!admitted) return power_lost();
    IOStatus status = target()->PositionedAppend(data, offset, options, dbg);
    if (status.ok()) grew_to(offset + data.size());
    return status;
  }
  IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                            const rocksdb::IOOptions& options,
                            const rocksdb::DataVerificationInfo& info,
                            rocksdb::IODebugContext* dbg) override {
    const auto admitted = owner_.admit();
    if (!admitted) return power_lost();
    IOStatus status = target()->PositionedAppend(data, offset, options, info, dbg);
    if (status.ok()) grew_to(offset + data.size());
    return status;
  }
  IOStatus Truncate(uint64_t size, const rocksdb::IOOptions& options,
                    rocksdb::IODebugContext* dbg) override {
    const auto admitted = owner_.admit();
    if (!admitted) return power_lost();
    IOStatus status = target()->Truncate(size, options, dbg);
    if (status.ok()) owner_.resized(*state_, size);
    return status;
  }
  IOStatus Flush(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    const auto admitted = owner_.admit();
    if (!admitted) return power_lost();
    return target()->Flush(options, dbg);
  }
  IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    return sync([&] { return target()->Sync(options, dbg); });
  }
  IOStatus Fsync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    return sync([&] { return target()->Fsync(options, dbg); });
  }
  // Forwarded (bytes_per_sync uses it) but, as sync_file_range(2), it makes nothing durable.
  IOStatus RangeSync(uint64_t offset, uint64_t nbytes, const rocksdb::IOOptions& options,
                     rocksdb::IODebugContext* dbg) override {
    const auto admitted = owner_.admit();
    if (!admitted) return power_lost();
    return target()->RangeSync(offset, nbytes, options, dbg);
  }
  // Close always reaches the file (its descriptor must go) and makes nothing durable.

 private:
  template <typename Call>
  IOStatus sync(Call call) {
    const auto admitted = owner_.admit();
    if (!admitted) return power_lost();
    // Only bytes written before the sync began are known to be covered by it.
    const uint64_t size = owner_.size_of(*state_);
    IOStatus status = call();
    if (status.ok() && !owner_.syncs_ignored()) owner_.synced(*state_, size);
    return status;
  }

  void grew_to(uint64_t end) {
    const uint64_t size = owner_.size_of(*state_);
    if (end > size) owner_.grew(*state_, end - size);
  }

  PowerLossFileSystem& owner_;
  std::shared_ptr<PowerLossFileSystem::FileState> state_;
};

// A directory whose fsync makes the changes to its entries durable.
class TrackedDirectory : public rocksdb::FSDirectoryWrapper {
 public:
  TrackedDirectory(std::unique_ptr<rocksdb::FSDirectory> directory, PowerLossFileSystem& owner,
                   fs::path path)
      : FSDirectoryWrapper(std::move(directory)), owner_(owner), path_(std::move(path)) {}

  IOStatus Fsync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    const auto admitted = owner_.admit();
    if (!admitted) return power_lost();
    IOStatus status = FSDirectoryWrapper::Fsync(options, dbg);
    if (status.ok() && !owner_.syncs_ignored()) owner_.directory_synced(path_);
    return status;
  }
  IOStatus FsyncWithDirOptions(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg,
                               const rocksdb::DirFsyncOptions& dir_options) override {
    const auto admitted = owner_.admit();
    if (!admitted) return power_lost();
    IOStatus status = FSDirectoryWrapper::FsyncWithDirOptions(options, dbg, dir_options);
    if (status.ok() && !owner_.syncs_ignored()) owner_.directory_synced(path_);
    return status;
  }

 private:
  PowerLossFileSystem& owner_;
  const fs::path path_;
};

}  // namespace

fs::path normal_path(const std::string& name) {
  fs::path path = fs::path(name).lexically_normal();
  if (!path.has_filename() && path.has_parent_path()) path = path.parent_path();
  return path;
}

PowerLossFileSystem::PowerLossFileSystem(fs::path trash)
    : FileSystemWrapper(rocksdb::FileSystem::Default()), trash_(std::move(trash)) {
  fs::create_directories(trash_);
}

void PowerLossFileSystem::fail_after(uint64_t operations) {
  power_.fail_after(operations);
}

void PowerLossFileSystem::fail_now() {
  power_.fail_now();
}

bool PowerLossFileSystem::failed() const {
  return power_.failed();
}

uint64_t PowerLossFileSystem::operations() const {
  return power_.operations();
}

void PowerLossFileSystem::set_syncs_ignored(bool ignored) {
  std::lock_guard lock(mutex_);
  syncs_ignored_ = ignored;
}

bool PowerLossFileSystem::syncs_ignored() const {
  std::lock_guard lock(mutex_);
  return syncs_ignored_;
}

uint64_t PowerLossFileSystem::unmodelled_calls() const {
  std::lock_guard lock(mutex_);
  return unmodelled_;
}

void PowerLossFileSystem::stop_after(uint64_t operations) {
  std::lock_guard lock(stop_mutex_);
  until_stop_ = operations;
  stopped_ever_ = false;
}

bool PowerLossFileSystem::wait_for_stop(std::chrono::milliseconds timeout) {
  std::unique_lock lock(stop_mutex_);
  return stop_changed_.wait_for(lock, timeout, [&] { return stopped_now_ && in_progress_ == 0; });
}

bool PowerLossFileSystem::stopped() const {
  std::lock_guard lock(stop_mutex_);
  return stopped_ever_;
}

void PowerLossFileSystem::disk_after_power_failure(const fs::path& directory,
                                                   const fs::path& image) {
  std::unique_lock stop_lock(stop_mutex_);
  if (!stopped_now_ || in_progress_ != 0) {
    throw std::logic_error("disk_after_power_failure() before the stop");
  }
  fs::copy(directory, image, fs::copy_options::recursive);
  {
    std::lock_guard lock(mutex_);
    const fs::path from = normal_path(directory);
    const fs::path to = normal_path(image);
    roll_back(
        [&](const fs::path& path) -> std::optional<fs::path> {
          const fs::path relative = path.lexically_relative(from);
          if (relative.empty() || *relative.begin() == "..") return std::nullopt;
          return relative == "." ? to : to / relative;
        },
        SavedFiles::copy_back);
  }
  stopped_now_ = false;
  stop_changed_.notify_all();
}

PowerLossFileSystem::Admission PowerLossFileSystem::admit() {
  {
    std::unique_lock lock(stop_mutex_);
    if (until_stop_ && *until_stop_ == 0) {
      until_stop_.reset();
      stopped_now_ = stopped_ever_ = true;
      stop_changed_.notify_all();
    } else if (until_stop_) {
      --*until_stop_;
    }
    stop_changed_.wait(lock, [&] { return !stopped_now_; });
    if (!power_.admit()) return Admission(nullptr);
    ++in_progress_;
  }
  return Admission(this);
}

PowerLossFileSystem::Admission::~Admission() {
  if (owner_ == nullptr) return;
  std::lock_guard lock(owner_->stop_mutex_);
  --owner_->in_progress_;
  owner_->stop_changed_.notify_all();
}

void PowerLossFileSystem::grew(FileState& file, uint64_t bytes) {
  std::lock_guard lock(mutex_);
  file.size += bytes;
}

void PowerLossFileSystem::resized(FileState& file, uint64_t size) {
  std::lock_guard lock(mutex_);
  file.size = size;
  file.synced = std::min(file.synced, size);
}

uint64_t PowerLossFileSystem::size_of(const FileState& file) const {
  std::lock_guard lock(mutex_);
  return file.size;
}

void PowerLossFileSystem::synced(FileState& file, uint64_t size) {
  std::lock_guard lock(mutex_);
  file.synced = std::max(file.synced, std::min(size, file.size));
}

void PowerLossFileSystem::directory_synced(const fs::path& directory) {
  std::lock_guard lock(mutex_);
  std::erase_if(changes_, [&](const Change& change) {
    if (change.path.parent_path() != directory) return false;
    if (change.saved) {
      // The removal of the deleted or replaced file is durable now: it cannot come back.
      std::error_code ignored;
      fs::remove(*change.saved, ignored);
      files_.erase(*change.saved);
    }
    return true;
  });
}

void PowerLossFileSystem::lose_power() {
  std::lock_guard lock(mutex_);
  roll_back([](const fs::path& path) { return std::optional<fs::path>(path); },
            SavedFiles::move_back);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(trash_)) fs::remove_all(entry.path(), ec);
  files_.clear();
  changes_.clear();
  power_.restore();
}

void PowerLossFileSystem::roll_back(const Placement& in_image, SavedFiles saved_files) {
  const auto bring_back = [&](const fs::path& saved, const fs::path& path, std::error_code& ec) {
    if (saved_files == SavedFiles::move_back) {
      fs::rename(saved, path, ec);
    } else {
      fs::copy_file(saved, path, fs::copy_options::overwrite_existing, ec);
    }
  };
  // Durable lengths by current name, moved as the changes are undone.
  std::map<fs::path, uint64_t> synced;
  for (const auto& [path, state] : files_) synced[path] = state->synced;
  const auto move = [&](const fs::path& from, const fs::path& to) {
    const auto found = synced.find(from);
    if (found == synced.end()) {
      synced.erase(to);
      return;
    }
    const uint64_t length = found->second;
    synced.erase(found);
    synced[to] = length;
  };
  std::error_code ec;
  for (auto change = changes_.rbegin(); change != changes_.rend(); ++change) {
    const auto path = in_image(change->path);
    if (!path) continue;  // outside the database: not in the image
    switch (change->kind) {
      case Change::Kind::created:
        fs::remove_all(*path, ec);
        std::erase_if(synced, [&](const auto& file) {
          const auto [end, _] = std::mismatch(change->path.begin(), change->path.end(),
                                              file.first.begin(), file.first.end());
          return end == change->path.end();
        });
        break;
      case Change::Kind::renamed:
        if (const auto from = in_image(change->from)) fs::rename(*path, *from, ec);
        move(change->path, change->from);
        if (change->saved) {
          bring_back(*change->saved, *path, ec);
          move(*change->saved, change->path);
        }
        break;
      case Change::Kind::deleted:
        bring_back(*change->saved, *path, ec);
        move(*change->saved, change->path);
        break;
    }
  }
  for (const auto& [name, length] : synced) {
    const auto path = in_image(name);
    if (path && fs::exists(*path, ec) && fs::file_size(*path, ec) > length) {
      fs::resize_file(*path, length, ec);
    }
  }
}

fs::path PowerLossFileSystem::trash_name() {
  std::lock_guard lock(mutex_);
  return trash_ / std::to_string(++trash_count_);
}

void PowerLossFileSystem::move_state(const fs::path& from, const fs::path& to) {
  const auto found = files_.find(from);
  if (found == files_.end()) {
    files_.erase(to);
    return;
  }
  auto state = found->second;
  files_.erase(found);
  files_[to] = std::move(state);
}

void PowerLossFileSystem::count_unmodelled() {
  std::lock_guard lock(mutex_);
  ++unmodelled_;
}

IOStatus PowerLossFileSystem::NewWritableFile(const std::string& fname,
                                              const rocksdb::FileOptions& options,
                                              std::unique_ptr<rocksdb::FSWritableFile>* result,
                                              rocksdb::IODebugContext* dbg) {
  const auto admitted = admit();
  if (!admitted) return power_lost();
  const fs::path path = normal_path(fname);
  std::error_code ec;
  const bool existed = fs::exists(path, ec);
  IOStatus status = target()->NewWritableFile(fname, options, result, dbg);
  if (!status.ok()) return status;
  auto state = std::make_shared<FileState>();  // empty, also when it truncated a file
  {
    std::lock_guard lock(mutex_);
    files_[path] = state;
    if (!existed) changes_.push_back({Change::Kind::created, path, {}, std::nullopt});
  }
  *result = std::make_unique<TrackedWritableFile>(std::move(*result), *this, std::move(state));
  return status;
}

IOStatus PowerLossFileSystem::ReopenWritableFile(const std::string& fname,
                                                 const rocksdb::FileOptions& options,
                                                 std::unique_ptr<rocksdb::FSWritableFile>* result,
                                                 rocksdb::IODebugContext* dbg) {
  const auto admitted = admit();
  if (!admitted) return power_lost();
  const fs::path path = normal_path(fname);
  std::error_code ec;
  const bool existed = fs::exists(path, ec);
  const uint64_t size = existed ? fs::file_size(path, ec) : 0;
  IOStatus status = target()->ReopenWritableFile(fname, options, result, dbg);
  if (!status.ok()) return status;
  std::shared_ptr<FileState> state;
  {
    std::lock_guard lock(mutex_);
    auto& known = files_[path];
    if (known == nullptr) {
      // Not written through us since the last power loss: durable as it stands.
      known = std::make_shared<FileState>(FileState{size, size});
      if (!existed) changes_.push_back({Change::Kind::created, path, {}, std::nullopt});
    }
    state = known;
  }
  *result = std::make_unique<TrackedWritableFile>(std::move(*result), *this, std::move(state));
  return status;
}

IOStatus PowerLossFileSystem::ReuseWritableFile(const std::string& fname,
                                                const std::string& old_fname,
                                                const rocksdb::FileOptions& options,
                                                std::unique_ptr<rocksdb::FSWritableFile>* result,
                                                rocksdb::IODebugContext* dbg) {
  count_unmodelled();
  return target()->ReuseWritableFile(fname, old_fname, options, result, dbg);
}

IOStatus PowerLossFileSystem::NewRandomRWFile(const std::string& fname,
                                              const rocksdb::FileOptions& options,
                                              std::unique_ptr<rocksdb::FSRandomRWFile>* result,
                                              rocksdb::IODebugContext* dbg) {
  count_unmodelled();
  return target()->NewRandomRWFile(fname, options, result, dbg);
}

IOStatus PowerLossFileSystem::NewDirectory(const std::string& name,
                                           const rocksdb::IOOptions& options,
                                           std::unique_ptr<rocksdb::FSDirectory>* result,
                                           rocksdb::IODebugContext* dbg) {
  IOStatus status = target()->NewDirectory(name, options, result, dbg);
  if (!status.ok()) return status;
  *result = std::make_unique<TrackedDirectory>(std::move(*result), *this, normal_path(name));
  return status;
}

IOStatus PowerLossFileSystem::DeleteFile(const std::string& fname,
                                         const rocksdb::IOOptions& options,
                                         rocksdb::IODebugContext* dbg) {
  const auto admitted = admit();
  if (!admitted) return power_lost();
  const fs::path path = normal_path(fname);
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return target()->DeleteFile(fname, options, dbg);
  // Moved aside rather than removed, so that power loss can bring it back.
  const fs::path saved = trash_name();
  fs::rename(path, saved, ec);
  if (ec) return from_error(ec, path);
  std::lock_guard lock(mutex_);
  move_state(path, saved);
  changes_.push_back({Change::Kind::deleted, path, {}, saved});
  return IOStatus::OK();
}

IOStatus PowerLossFileSystem::RenameFile(const std::string& source, const std::string& target,
                                         const rocksdb::IOOptions& options,
                                         rocksdb::IODebugContext* dbg) {
  const auto admitted = admit();
  if (!admitted) return power_lost();
  const fs::path from = normal_path(source);
  const fs::path to = normal_path(target);
  std::error_code ec;
  std::optional<fs::path> saved;
  if (fs::is_regular_file(to, ec)) {
    // A second name for the file the rename replaces, so that power loss can restore it;
    // the rename itself stays the atomic replacement RocksDB relies on.
    saved = trash_name();
    fs::create_hard_link(to, *saved, ec);
    if (ec) return from_error(ec, to);
  }
  IOStatus status = this->target()->RenameFile(source, target, options, dbg);
  if (!status.ok()) {
    if (saved) fs::remove(*saved, ec);
    return status;
  }
  std::lock_guard lock(mutex_);
  if (saved) move_state(to, *saved);
  move_state(from, to);
  changes_.push_back({Change::Kind::renamed, to, from, saved});
  return status;
}

IOStatus PowerLossFileSystem::LinkFile(const std::string& source, const std::string& target,
                                       const rocksdb::IOOptions& options,
                                       rocksdb::IODebugContext* dbg) {
  count_unmodelled();
  return this->target()->LinkFile(source, target, options, dbg);
}

IOStatus PowerLossFileSystem::Truncate(const std::string& fname, size_t size,
                                       const rocksdb::IOOptions& options,
                                       rocksdb::IODebugContext* dbg) {
  const auto admitted = admit();
  if (!admitted) return power_lost();
  IOStatus status = target()->Truncate(fname, size, options, dbg);
  if (!status.ok()) return status;
  std::lock_guard lock(mutex_);
  const auto found = files_.find(normal_path(fname));
  if (found != files_.end()) {
    found->second->size = size;
    found->second->synced = std::min<uint64_t>(found->second->synced, size);
  }
  return status;
}

IOStatus PowerLossFileSystem::make_directory(const std::string& dirname, bool only_if_missing,
                                             const rocksdb::IOOptions& options,
                                             rocksdb::IODebugContext* dbg) {
  const auto admitted = admit();
  if (!admitted) return power_lost();
  const fs::path path = normal_path(dirname);
  std::error_code ec;
  const bool existed = fs::exists(path, ec);
  IOStatus status = only_if_missing ? target()->CreateDirIfMissing(dirname, options, dbg)
                                    : target()->CreateDir(dirname, options, dbg);
  if (status.ok() && !existed) {
    std::lock_guard lock(mutex_);
    changes_.push_back({Change::Kind::created, path, {}, std::nullopt});
  }
  return status;
}

IOStatus PowerLossFileSystem::CreateDir(const std::string& dirname,
                                        const rocksdb::IOOptions& options,
                                        rocksdb::IODebugContext* dbg) {
  return make_directory(dirname, false, options, dbg);
}

IOStatus PowerLossFileSystem::CreateDirIfMissing(const std::string& dirname,
                                                 const rocksdb::IOOptions& options,
                                                 rocksdb::IODebugContext* dbg) {
  return make_directory(dirname, true, options, dbg);
}

IOStatus PowerLossFileSystem::DeleteDir(const std::string& dirname,
                                        const rocksdb::IOOptions& options,
                                        rocksdb::IODebugContext* dbg) {
  count_unmodelled();
  return target()->DeleteDir(dirname, options, dbg);
}

}  // namespace herald::test_support
