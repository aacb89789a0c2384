// Runs the ValiMail ARC suite (conformance README section 2) against ArcVerifier (chain
// validation) and ArcSealer (sealing), and prints the pass counts per suite.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "auth/arc_seal.h"
#include "auth/arc_test_support.h"
#include "auth/dkim_test_support.h"
#include "dns/memory_resolver.h"
#include "util/ascii.h"

namespace herald {
namespace {

using test_support::record_text;
using test_support::to_crlf;
using test_support::verify_arc_now;

std::string suite_file(const std::string& name) {
  return test_support::conformance_path("arc-valimail/" + name);
}

// Cases whose expectation follows the reference implementation (dkimpy) where it is more
// lenient than RFC 8617 and RFC 6376; each is run, its outcome is not counted, and it is
// listed with this reason.
const std::map<std::string, std::string>& lenient_cases() {
  static const std::map<std::string, std::string> cases = {
      {"ams_fields_c_na",
       "the AMS has no c= but was made with relaxed/relaxed, which dkimpy assumes for ARC; RFC "
       "8617 4.1.2 gives c= its DKIM meaning, default simple/simple (RFC 6376 3.5), under which "
       "the signature does not verify"},
      {"ams_fields_h_mis_hdr",
       "h= has an empty name (\"to::date\"), which dkimpy skips; the h= grammar of RFC 6376 3.5, "
       "which RFC 8617 4.1.2 uses, has no empty names, so the AMS does not parse"},
  };
  return cases;
}

// The tests of one scenario by id. Four ids of "Arc Seal Fields" appear twice in the file;
// as with PyYAML, which the upstream harness uses, the later one is the case.
std::map<std::string, YAML::Node> tests_by_id(const YAML::Node& scenario) {
  std::map<std::string, YAML::Node> tests;
  for (const auto& entry : scenario["tests"]) tests[entry.first.as<std::string>()] = entry.second;
  return tests;
}

// The suite's txt-records as zone data: LFs removed (README 2, "TXT value notes").
void load_zone(MemoryResolver& zone, const YAML::Node& records) {
  if (!records) return;
  for (const auto& record : records)
    zone.add_txt(record.first.as<std::string>(), {record_text(record.second.as<std::string>())});
}

std::string expected_chain(const YAML::Node& test) {
  // README 2: an empty cv (the newest seal already says cv=fail) counts as fail.
  const std::string cv = test["cv"] ? test["cv"].as<std::string>("") : "";
  return cv.empty() ? "fail" : ascii_lower(cv);
}

struct SuiteTally {
  int total = 0;
  int passed = 0;
  std::vector<std::string> skipped;

  void print(const std::string& suite) const {
    std::cout << suite << ": " << passed << "/" << total - skipped.size() << " passed, "
              << skipped.size() << " skipped\n";
    for (const std::string& line : skipped) std::cout << "  skipped " << line << "\n";
  }
};

TEST(ArcValiMailSuite, ChainValidationMatchesEveryCase) {
  const ManualClock clock(TimePoint(std::chrono::seconds(1700000000)));
  SuiteTally tally;
  for (const YAML::Node& scenario :
       YAML::LoadAllFromFile(suite_file("arc-draft-validation-tests.yml"))) {
    MemoryResolver zone;
    load_zone(zone, scenario["txt-records"]);
    ArcVerifier verifier(zone, clock);
    for (const auto& [id, test] : tests_by_id(scenario)) {
      ++tally.total;
      const ArcVerdict verdict =
          verify_arc_now(verifier, to_crlf(test["message"].as<std::string>("")));
      const std::string expected = expected_chain(test);
      const bool ok = to_string(verdict.result) == expected;
      if (auto skip = lenient_cases().find(id); skip != lenient_cases().end()) {
        tally.skipped.push_back(id + " (" + skip->second + "; got " +
                                std::string(to_string(verdict.result)) + ")");
      } else if (ok) {
        ++tally.passed;
      } else {
        ADD_FAILURE() << id << " (" << scenario["description"].as<std::string>() << ": "
                      << test["description"].as<std::string>() << "): got "
                      << to_string(verdict.result) << " [" << verdict.reason << "], expected "
                      << expected;
      }
    }
  }
  tally.print("ARC ValiMail validation suite");
  EXPECT_EQ(tally.total, 171);
  EXPECT_EQ(tally.passed, tally.total - static_cast<int>(tally.skipped.size()));
}

// README 2, AAR rule: the payloads of every Authentication-Results field whose authserv-id
// is `srv_id`, in message order, joined by "; ".
std::string merged_results(const std::string& message, const std::string& srv_id) {
  std::string merged;
  for (const DkimHeaderField& field : split_dkim_message(message).headers) {
    if (!equals_ignoring_ascii_case(field.name, "Authentication-Results")) continue;
    std::string_view value = field.raw.substr(field.raw.find(':') + 1);
    const auto semicolon = value.find(';');
    const std::string id = record_text(std::string(value.substr(0, semicolon)));
    if (semicolon == std::string_view::npos || id.find(srv_id) == std::string::npos) continue;
    std::string payload = record_text(std::string(value.substr(semicolon + 1)));
    while (!payload.empty() && payload.front() == ' ') payload.erase(0, 1);
    while (!payload.empty() && payload.back() == ' ') payload.pop_back();
    merged += (merged.empty() ? "" : "; ") + payload;
  }
  return merged;
}

// README 2: fields compare as sets of ";"-separated tags once all whitespace is removed.
std::set<std::string> tag_set(std::string_view value) {
  std::set<std::string> tags;
  std::string tag;
  for (char c : value) {
    if (c == ';') {
      if (!tag.empty()) tags.insert(tag);
      tag.clear();
    } else if (!is_dkim_fws(c)) {
      tag += c;
    }
  }
  if (!tag.empty()) tags.insert(tag);
  return tags;
}

// The values of the ARC-Seal, ARC-Message-Signature and ARC-Authentication-Results fields
// that seal() produced, in that order.
std::vector<std::string> sealed_values(const std::string& fields) {
  std::vector<std::string> values;
  for (const DkimHeaderField& field : split_dkim_message(fields).headers)
    values.emplace_back(field.raw.substr(field.raw.find(':') + 1));
  return values;
}

std::string join_tags(const std::set<std::string>& tags) {
  std::string out;
  for (const std::string& tag : tags) out += tag + "; ";
  return out;
}

// Each case seals its message with the scenario's key at its t=, its sig-headers as the AMS
// h= and its srv-id as authserv-id; cv= comes from ArcVerifier on the message as given.
// The produced AS, AMS and AAR must equal the expected ones tag for tag, b= included (RSA
// PKCS#1 v1.5 is deterministic). Then the sealed message is validated with ArcVerifier.
TEST(ArcValiMailSuite, SealingMatchesEveryCase) {
  const ManualClock clock(TimePoint(std::chrono::seconds(1700000000)));
  SuiteTally tally;
  for (const YAML::Node& scenario : YAML::LoadAllFromFile(suite_file("arc-draft-sign-tests.yml"))) {
    MemoryResolver zone;
    load_zone(zone, scenario["txt-records"]);
    ArcVerifier verifier(zone, clock);
    for (const auto& [id, test] : tests_by_id(scenario)) {
      ++tally.total;
      const std::string message = to_crlf(test["message"].as<std::string>());
      const std::string srv_id = test["srv-id"].as<std::string>();
      const std::string sig_headers = test["sig-headers"].as<std::string>();
      std::vector<std::string> headers;
      for (std::string_view name : split_dkim_tag_value(sig_headers, ':'))
        headers.emplace_back(name);
      auto loaded = ArcSealer::from_pem(scenario["privatekey"].as<std::string>(),
                                        scenario["domain"].as<std::string>(),
                                        scenario["sel"].as<std::string>(), headers);
      ASSERT_TRUE(std::holds_alternative<ArcSealer>(loaded))
          << std::get<ArcSealError>(loaded).reason;
      const ArcVerdict received = verify_arc_now(verifier, message);
      const auto sealed = std::get<ArcSealer>(loaded).seal(
          MessageContent::from_text(message), srv_id, merged_results(message, srv_id),
          received.result, TimePoint(std::chrono::seconds(test["t"].as<int64_t>())));

      std::string failure;
      const std::vector<std::string> expected = {test["AS"].as<std::string>(""),
                                                 test["AMS"].as<std::string>(""),
                                                 test["AAR"].as<std::string>("")};
      if (tag_set(expected[0]).empty()) {
        // No expected fields: the chain ended upstream and no set may be added.
        if (!std::holds_alternative<ArcSealError>(sealed)) failure = "sealed, expected no seal";
      } else if (const auto* error = std::get_if<ArcSealError>(&sealed)) {
        failure = "seal failed: " + error->reason;
      } else {
        const std::vector<std::string> produced = sealed_values(std::get<std::string>(sealed));
        const char* names[] = {"AS", "AMS", "AAR"};
        for (size_t i = 0; i < 3; ++i)
          if (produced.size() != 3 || tag_set(produced[i]) != tag_set(expected[i]))
            failure += std::string(names[i]) + " differs: got " +
                       (produced.size() == 3 ? join_tags(tag_set(produced[i])) : "?") +
                       "\n  expected " + join_tags(tag_set(expected[i])) + "\n";
        const ArcVerdict resealed =
            verify_arc_now(verifier, std::get<std::string>(sealed) + message);
        const ArcChainResult wanted =
            received.result == ArcChainResult::fail ? ArcChainResult::fail : ArcChainResult::pass;
        if (failure.empty() && resealed.result != wanted)
          failure = "sealed message validates as " + std::string(to_string(resealed.result)) +
                    " [" + resealed.reason + "]";
      }
      if (auto skip = lenient_cases().find(id); skip != lenient_cases().end()) {
        tally.skipped.push_back(id + " (" + skip->second + "; " +
                                (failure.empty() ? "matched" : failure) + ")");
      } else if (failure.empty()) {
        ++tally.passed;
      } else {
        ADD_FAILURE() << id << " (" << test["description"].as<std::string>() << "): " << failure;
      }
    }
  }
  tally.print("ARC ValiMail sealing suite");
  EXPECT_EQ(tally.total, 17);
  EXPECT_EQ(tally.passed, tally.total - static_cast<int>(tally.skipped.size()));
}

}  // namespace
}  // namespace herald
