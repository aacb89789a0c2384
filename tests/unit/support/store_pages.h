// Reads a whole Store's unfinished deliveries for a test's assertions, a slice at a time as
// the queue does (Store::unfinished_deliveries); tests hold small stores.
#pragma once

#include <optional>
#include <vector>

#include "store/store.h"

namespace herald::test_support {

inline std::vector<Delivery> all_unfinished(Store& store) {
  std::vector<Delivery> out;
  std::optional<DeliveryKey> after;
  for (;;) {
    const std::vector<Delivery> slice = store.unfinished_deliveries(after, 1000);
    out.insert(out.end(), slice.begin(), slice.end());
    if (slice.size() < 1000) return out;
    after = slice.back().key();
  }
}

}  // namespace herald::test_support
