// Shared by the ARC tests: a synchronous wrapper around the asynchronous verifier
// (MemoryResolver answers before lookup_txt returns).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "auth/arc_verify.h"

namespace herald {
inline void PrintTo(ArcChainResult result, std::ostream* out) {
  *out << to_string(result);
}
}  // namespace herald

namespace herald::test_support {

inline ArcVerdict verify_arc_now(ArcVerifier& verifier, const std::string& message) {
  ArcVerdict verdict;
  int calls = 0;
  verifier.verify(MessageContent::from_text(message), [&](ArcVerdict result) {
    verdict = std::move(result);
    ++calls;
  });
  EXPECT_EQ(calls, 1) << "done runs exactly once, synchronously with a memory resolver";
  return verdict;
}

}  // namespace herald::test_support
