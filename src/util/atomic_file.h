// Files that must never be seen half-written (keys, secrets).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string_view>

namespace herald {

// Writes `contents` to `path` with `mode` through a temporary file beside it ("path.tmp"),
// fsync and a rename, so that a crash leaves either the old file or the complete new one,
// never half a key. Throws std::system_error naming the file that could not be written.
void write_file_atomically(const std::filesystem::path& path, std::string_view contents,
                           mode_t mode);

}  // namespace herald
