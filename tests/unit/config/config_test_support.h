// What the config tests that add tables to a minimal file share: the file, and parsing it
// with the tables appended, or the error that gives.
#pragma once

#include <string>

#include "config/config.h"

namespace herald::config_testing {

// What is appended to it starts on line 9.
inline constexpr const char* kMinimal = R"(
[server]
hostname = "mx.example.test"
data_dir = "var"
[[listen]]
address = "127.0.0.1:2525"
[[domain]]
name = "example.test"
)";

inline Config parse(const std::string& tables) {
  return parse_config(std::string(kMinimal) + tables, "/etc/herald/herald.toml");
}

// The error's text, or "(no error)" when the file is accepted.
inline std::string error_of(const std::string& tables) {
  try {
    parse(tables);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace herald::config_testing
