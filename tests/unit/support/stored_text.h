// A stored message's content in one string (tests only: it reads the whole body).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "store/store.h"

namespace herald::test_support {

inline std::optional<std::string> stored_text(Store& store, std::string_view id) {
  const std::optional<MessageContent> content = store.content(id);
  if (!content) return std::nullopt;
  return content->to_text();
}

}  // namespace herald::test_support
