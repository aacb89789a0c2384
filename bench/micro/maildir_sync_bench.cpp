// Directory fsyncs of Maildir delivery (issue 8): T threads each write a 4 KiB file in tmp/,
// fsync it, rename it into new/ and make the rename durable, either each with an fsync of new/
// of its own (as before group commit) or through DirectorySyncGroups with 1 or 2 syncs of new/
// in flight. Reports deliveries/s and directory fsyncs per delivery. The files go under
// $HERALD_BENCH_DIR (default /tmp): the disk is what is measured.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "transport/directory_sync_group.h"
#include "transport/maildir_files.h"

namespace herald {
namespace {

namespace fs = std::filesystem;

std::atomic<uint64_t> directory_syncs{0};

int counted_sync(const fs::path& dir, std::string& failed_step) {
  ++directory_syncs;
  return posix_maildir_files().sync_directory(dir, failed_step);
}

struct Shared {
  fs::path maildir;
  std::unique_ptr<DirectorySyncGroups> groups;
  std::atomic<uint64_t> next_name{0};
};
Shared shared;

void write_and_rename(const std::string& bytes) {
  const std::string name = std::to_string(shared.next_name++);
  const fs::path tmp = shared.maildir / "tmp" / name;
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size()) ||
      ::fsync(fd) != 0 || ::close(fd) != 0 ||
      ::rename(tmp.c_str(), (shared.maildir / "new" / name).c_str()) != 0) {
    std::abort();
  }
}

// range(0): 0 = an fsync of new/ per delivery; 1, 2 = grouped, with that many in flight.
void BM_MaildirDelivery(benchmark::State& state) {
  const int mode = static_cast<int>(state.range(0));
  if (state.thread_index() == 0) {
    const char* base = std::getenv("HERALD_BENCH_DIR");
    shared.maildir =
        fs::path(base ? base : "/tmp") / ("herald-maildir-bench-" + std::to_string(::getpid()));
    fs::remove_all(shared.maildir);
    for (const char* sub : {"tmp", "new", "cur"}) fs::create_directories(shared.maildir / sub);
    shared.groups = mode == 0 ? nullptr
                              : std::make_unique<DirectorySyncGroups>(counted_sync,
                                                                      static_cast<unsigned>(mode));
    directory_syncs = 0;
  }
  const std::string bytes(4096, 'x');
  for (auto _ : state) {
    write_and_rename(bytes);
    std::string step;
    const fs::path new_dir = shared.maildir / "new";
    if (shared.groups ? shared.groups->sync(new_dir, step) : counted_sync(new_dir, step)) {
      std::abort();
    }
  }
  state.SetItemsProcessed(state.iterations());
  // The loop ends for all threads together, so the count is complete here.
  if (state.thread_index() == 0) {
    state.counters["dir_syncs_per_delivery"] =
        static_cast<double>(directory_syncs) /
        static_cast<double>(state.iterations() * static_cast<uint64_t>(state.threads()));
    fs::remove_all(shared.maildir);
  }
}
BENCHMARK(BM_MaildirDelivery)
    ->ArgName("grouped_in_flight")
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->Threads(2)
    ->Threads(8)
    ->UseRealTime()
    ->MinTime(1.0);

}  // namespace
}  // namespace herald

BENCHMARK_MAIN();
