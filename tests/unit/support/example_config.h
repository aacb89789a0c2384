// A test configuration: mx.example.test serving the domain example.test on one loopback
// listener, and whatever users, aliases and tables a test appends.
#pragma once

#include <string>
#include <string_view>

#include "config/config.h"

namespace herald::test_support {

inline Config example_config(std::string_view rest) {
  const std::string text = R"(
[server]
hostname = "mx.example.test"
data_dir = "/tmp/unused"
[[listen]]
address = "127.0.0.1:2525"
[[domain]]
name = "example.test"
)" + std::string(rest);
  return parse_config(text, "/tmp/test.toml");
}

}  // namespace herald::test_support
