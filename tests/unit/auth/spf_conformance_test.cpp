// Runs the openspf.org RFC 7208 suite (conformance README section 1) against check_spf().
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <string>

#include "auth/spf_suite.h"

namespace herald {
namespace {

using test_support::SuiteCase;

TEST(SpfOpenSpfSuite, EveryRfc7208CasePasses) {
  const std::vector<SuiteCase> cases = test_support::load_spf_suite();
  int passed = 0;
  for (const SuiteCase& suite_case : cases) {
    SpfOutcome outcome = test_support::run_spf_suite_case(suite_case);
    const auto& accepted = suite_case.accepted_results;
    bool ok =
        std::find(accepted.begin(), accepted.end(), to_string(outcome.result)) != accepted.end();
    if (ok && suite_case.explanation) ok = outcome.explanation == *suite_case.explanation;
    if (ok) {
      ++passed;
    } else {
      std::string expected;
      for (const std::string& result : accepted) expected += (expected.empty() ? "" : "|") + result;
      ADD_FAILURE() << suite_case.id << " (" << suite_case.scenario << ", spec " << suite_case.spec
                    << "): got " << to_string(outcome.result) << " [" << outcome.reason
                    << "] explanation \"" << outcome.explanation << "\", expected " << expected
                    << (suite_case.explanation ? " \"" + *suite_case.explanation + "\"" : "");
    }
  }
  // Every case runs; none is skipped.
  const int total = static_cast<int>(cases.size());
  std::cout << "SPF RFC 7208 suite: " << passed << "/" << total << " passed, 0 skipped\n";
  EXPECT_EQ(total, 203);
  EXPECT_EQ(passed, total);
}

}  // namespace
}  // namespace herald
