// The secret herald signs SRS addresses with ([srs], auth/srs.h): given in the file, read from
// secret_file, or generated on first start and kept in data_dir/srs.secret so that addresses
// made before a restart still verify after it.
#pragma once

#include <string>

#include "config/config.h"

namespace herald {

// [srs] secret; or the content of secret_file (surrounding whitespace removed); or that of
// data_dir/srs.secret, created when absent with 32 random octets in hex (file mode 0600).
// data_dir must exist. Throws std::runtime_error (ConfigError for an empty secret_file)
// naming the file that could not be read or written.
std::string load_srs_secret(const Config& config);

}  // namespace herald
