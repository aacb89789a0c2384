#include "mqtt/message.h"

#include <charconv>

namespace herald::mqtt {

std::optional<int> priority_of(const Properties& properties) {
  const std::string* given = nullptr;
  for (const auto& [name, value] : properties.user_properties) {
    if (name == "priority") given = &value;
  }
  if (given == nullptr) return 0;
  int priority = 0;
  const char* end = given->data() + given->size();
  const auto [rest, error] = std::from_chars(given->data() + (given->starts_with('+') ? 1 : 0),
                                             end, priority);
  if (error != std::errc() || rest != end || priority < -9 || priority > 9) return std::nullopt;
  return priority;
}

}  // namespace herald::mqtt
