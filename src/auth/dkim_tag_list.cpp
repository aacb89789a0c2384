#include "auth/dkim_tag_list.h"

#include <algorithm>
#include <cctype>

namespace herald {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_dkim_fws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_dkim_fws(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

bool is_dkim_fws(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::vector<std::string_view> split_dkim_tag_value(std::string_view value, char separator) {
  std::vector<std::string_view> parts;
  for (;;) {
    const auto at = value.find(separator);
    parts.push_back(trim(value.substr(0, at)));
    if (at == std::string_view::npos) return parts;
    value.remove_prefix(at + 1);
  }
}

// Tag-name = ALPHA *ALNUMPUNC; tag-value chars are %x21-3A / %x3C-7E with inner FWS. A tag
// appearing twice makes the whole list invalid.
std::variant<DkimTagList, DkimSyntaxError> parse_dkim_tag_list(std::string_view text) {
  DkimTagList tags;
  auto specs = split_dkim_tag_value(text, ';');
  // The one optional trailing ";" leaves an empty last element.
  if (specs.size() > 1 && specs.back().empty()) specs.pop_back();
  for (std::string_view spec : specs) {
    const auto equals = spec.find('=');
    if (equals == std::string_view::npos)
      return DkimSyntaxError{"tag without '=': \"" + std::string(spec) + "\""};
    const std::string_view name = trim(spec.substr(0, equals));
    const std::string_view value = trim(spec.substr(equals + 1));
    const bool name_ok = !name.empty() && std::isalpha(static_cast<unsigned char>(name[0])) &&
                         std::all_of(name.begin(), name.end(), [](char c) {
                           return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                         });
    if (!name_ok) return DkimSyntaxError{"bad tag name \"" + std::string(name) + "\""};
    for (char c : value) {
      const auto u = static_cast<unsigned char>(c);
      if (!is_dkim_fws(c) && (u < 0x21 || u > 0x7e))
        return DkimSyntaxError{"bad character in tag " + std::string(name)};
    }
    if (find_dkim_tag(tags, name) != nullptr)
      return DkimSyntaxError{"duplicate tag " + std::string(name)};
    tags.emplace_back(std::string(name), std::string(value));
  }
  return tags;
}

const std::string* find_dkim_tag(const DkimTagList& tags, std::string_view name) {
  for (const auto& [tag, value] : tags)
    if (tag == name) return &value;
  return nullptr;
}

}  // namespace herald
