// Reading the TOML file into typed values, with errors that name the file, line and column:
// a reader per table that reports every key nobody read (a typo never silently means a
// default), and the walks over [table] and [[entries]]. Used by config.cpp only; it keeps
// toml++ out of config.h.
#pragma once

#include <toml++/toml.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "config/config.h"

namespace herald::config_reading {

inline std::string where(const std::filesystem::path& origin, const toml::node& node) {
  const auto& src = node.source();
  std::ostringstream out;
  out << origin.filename().string();
  if (src.begin.line) out << ':' << src.begin.line << ':' << src.begin.column;
  return out.str();
}

// Reads one TOML table, remembering which keys were read so that leftovers (typos, keys of
// a later herald) are reported instead of ignored.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string name, const std::filesystem::path& origin)
      : table_(table), name_(std::move(name)), origin_(origin) {}

  ~TableReader() noexcept(false) {
    if (std::uncaught_exceptions()) return;
    for (const auto& [key, node] : table_) {
      if (!read_.count(std::string(key.str()))) {
        throw ConfigError(where(origin_, node) + ": unknown key '" + std::string(key.str()) +
                          "' in [" + name_ + "]");
      }
    }
  }

  const toml::node* node(const std::string& key) {
    read_.insert(key);
    return table_.get(key);
  }

  template <typename T>
  void get(const std::string& key, T& out) {
    const toml::node* n = node(key);
    if (!n) return;
    auto v = n->value<T>();
    if (!v) fail(*n, key, type_name<T>());
    out = *v;
  }

  void get_string(const std::string& key, std::string& out, bool required = false) {
    const toml::node* n = node(key);
    if (!n) {
      if (required)
        throw ConfigError(origin_.filename().string() + ": [" + name_ + "] needs '" + key + "'");
      return;
    }
    auto v = n->value<std::string>();
    if (!v) fail(*n, key, "a string");
    out = *v;
  }

  // One of `choices`, as written; `out` keeps its value when the key is absent.
  void get_choice(const std::string& key, std::string& out,
                  std::initializer_list<std::string_view> choices) {
    const toml::node* n = node(key);
    if (!n) return;
    auto v = n->value<std::string>();
    std::string listed;
    for (std::string_view choice : choices) {
      if (v && *v == choice) {
        out = *v;
        return;
      }
      listed += std::string(listed.empty() ? "" : " or ") + '"' + std::string(choice) + '"';
    }
    fail(*n, key, listed);
  }

  void get_path(const std::string& key, std::filesystem::path& out) {
    std::string s;
    get_string(key, s);
    if (!s.empty()) out = absolute(s);
  }

  // A whole number from `min` to `max` (at most what T holds).
  template <typename T>
  void get_count(const std::string& key, T& out, uint64_t min = 1,
                 uint64_t max = std::numeric_limits<T>::max()) {
    const toml::node* n = node(key);
    if (!n) return;
    auto v = n->value<int64_t>();
    if (!v || *v < static_cast<int64_t>(min) || static_cast<uint64_t>(*v) > max) {
      throw ConfigError(where(origin_, *n) + ": '" + key + "' in [" + name_ +
                        "] must be a whole number from " + std::to_string(min) + " to " +
                        std::to_string(max));
    }
    out = static_cast<T>(*v);
  }

  void get_duration(const std::string& key, std::chrono::seconds& out) {
    const toml::node* n = node(key);
    if (!n) return;
    out = duration_of(*n, key);
  }

  // A duration from `min` to `max` (seconds::max(): no upper bound).
  void get_duration(const std::string& key, std::chrono::seconds& out, std::chrono::seconds min,
                    std::chrono::seconds max) {
    const toml::node* n = node(key);
    if (!n) return;
    const std::chrono::seconds value = duration_of(*n, key);
    if (value < min || value > max) {
      const std::string range =
          max == std::chrono::seconds::max()
              ? "at least " + std::to_string(min.count()) + "s"
              : "from " + std::to_string(min.count()) + "s to " + std::to_string(max.count()) + "s";
      throw ConfigError(where(origin_, *n) + ": '" + key + "' in [" + name_ + "] must be " + range);
    }
    out = value;
  }

  std::chrono::seconds duration_of(const toml::node& n, const std::string& key) {
    try {
      if (auto s = n.value<std::string>()) return parse_duration(*s);
      if (auto i = n.value<int64_t>(); i && *i >= 0) return std::chrono::seconds(*i);
    } catch (const ConfigError& e) {
      throw ConfigError(where(origin_, n) + ": '" + key + "': " + e.what());
    }
    fail(n, key, "a duration such as \"90s\", \"5m\", \"1h\" or \"5d\"");
  }

  void get_strings(const std::string& key, std::vector<std::string>& out) {
    const toml::node* n = node(key);
    if (!n) return;
    const toml::array* arr = n->as_array();
    if (!arr) fail(*n, key, "an array of strings");
    out.clear();
    for (const auto& item : *arr) {
      auto v = item.value<std::string>();
      if (!v) fail(item, key, "an array of strings");
      out.push_back(*v);
    }
  }

  std::filesystem::path absolute(const std::string& p) const {
    std::filesystem::path path(p);
    if (path.is_relative()) path = origin_.parent_path() / path;
    return path.lexically_normal();
  }

  [[noreturn]] void fail(const toml::node& n, const std::string& key, const std::string& want) {
    throw ConfigError(where(origin_, n) + ": '" + key + "' in [" + name_ + "] must be " + want);
  }

 private:
  template <typename T>
  static const char* type_name() {
    if constexpr (std::is_same_v<T, bool>)
      return "true or false";
    else
      return "a value of the right type";
  }

  const toml::table& table_;
  std::string name_;
  const std::filesystem::path& origin_;
  std::set<std::string> read_;
};

inline const toml::table& table_or_empty(const toml::table& root, const char* key,
                                         const std::filesystem::path& origin) {
  static const toml::table empty;
  const toml::node* n = root.get(key);
  if (!n) return empty;
  if (!n->as_table()) throw ConfigError(where(origin, *n) + ": [" + key + "] must be a table");
  return *n->as_table();
}

// Each [[name]] entry in turn; a single [name] table is an error, not one entry.
template <typename Fn>
void each_entry(const toml::table& root, const char* key, const std::filesystem::path& origin,
                Fn fn) {
  const toml::node* n = root.get(key);
  if (!n) return;
  const toml::array* arr = n->as_array();
  if (!arr || !arr->is_array_of_tables()) {
    throw ConfigError(where(origin, *n) + ": '" + key + "' must be written [[" + key + "]]");
  }
  for (const auto& item : *arr) fn(*item.as_table());
}

}  // namespace herald::config_reading
