// Which settings differ between two versions of herald.toml: what a reload
// (server/config_reload.h) reports as needing a restart.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace herald {

// The settings whose values differ between the TOML texts `before` and `after`, sorted,
// each named as herald.toml writes it: "[server] data_dir" for a key of a table, "[[listen]]"
// for an array of tables (any entry added, removed or changed), "[tls]" for a top-level key
// that is neither (a table present in one text only has its keys named one by one). Values are
// compared as TOML values, so a comment, spacing or the order of keys is no change. Throws
// ConfigError when a text does not parse (the caller has parsed both with parse_config already, so
// it does not happen there).
std::vector<std::string> changed_settings(std::string_view before, std::string_view after);

}  // namespace herald
