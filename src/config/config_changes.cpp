#include "config/config_changes.h"

#include <toml++/toml.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "config/config.h"

namespace herald {
namespace {

toml::table parsed(std::string_view text) {
  try {
    return toml::parse(text);
  } catch (const toml::parse_error& e) {
    throw ConfigError(std::string("cannot compare configurations: ") +
                      std::string(e.description()));
  }
}

const toml::node* child(const toml::table& table, const std::string& key) {
  return table.get(key);
}

// The node as TOML text: toml++ keeps table keys sorted, and drops comments and spacing.
std::string canonical(const toml::node& node) {
  std::ostringstream out;
  node.visit([&out](const auto& value) { out << value; });
  return out.str();
}

bool same(const toml::node* a, const toml::node* b) {
  if (a == nullptr || b == nullptr) return a == b;
  return a->type() == b->type() && canonical(*a) == canonical(*b);
}

}  // namespace

std::vector<std::string> changed_settings(std::string_view before, std::string_view after) {
  const toml::table old_root = parsed(before);
  const toml::table new_root = parsed(after);
  std::set<std::string> keys;
  for (const auto& [key, node] : old_root) keys.insert(std::string(key.str()));
  for (const auto& [key, node] : new_root) keys.insert(std::string(key.str()));

  std::vector<std::string> changed;
  for (const std::string& key : keys) {
    const toml::node* a = child(old_root, key);
    const toml::node* b = child(new_root, key);
    if (same(a, b)) continue;
    // A table present on one side only counts as an empty one on the other, so that its
    // keys are named one by one.
    static const toml::table empty;
    const toml::table* old_table =
        a != nullptr ? a->as_table() : (b->is_table() ? &empty : nullptr);
    const toml::table* new_table =
        b != nullptr ? b->as_table() : (a->is_table() ? &empty : nullptr);
    if (old_table != nullptr && new_table != nullptr) {
      std::set<std::string> subkeys;
      for (const auto& [subkey, node] : *old_table) subkeys.insert(std::string(subkey.str()));
      for (const auto& [subkey, node] : *new_table) subkeys.insert(std::string(subkey.str()));
      for (const std::string& subkey : subkeys) {
        if (!same(child(*old_table, subkey), child(*new_table, subkey)))
          changed.push_back("[" + key + "] " + subkey);
      }
    } else if ((a != nullptr && a->is_array()) || (b != nullptr && b->is_array())) {
      changed.push_back("[[" + key + "]]");
    } else {
      changed.push_back("[" + key + "]");
    }
  }
  std::sort(changed.begin(), changed.end());
  return changed;
}

}  // namespace herald
