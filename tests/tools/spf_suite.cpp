// herald_spf_suite: the openspf.org RFC 7208 suite (conformance README section 1) as herald
// sees it, for tests/integration/test_spf_agreement.py, which compares python3-spf's
// results with herald's over the very same DNS data.
//
//   herald_spf_suite cases   one JSON object a line per test case, in file order: id,
//                            scenario (index), host, mailfrom, helo, herald_result
//   herald_spf_suite zone    answers lookups in the suite's zones, one a line: reads
//                            "<scenario> <A|AAAA|MX|TXT|PTR> <name>" on stdin and writes
//                            {"status": "no_error|nxdomain|servfail|timeout", "records": [...]}
//                            (A, AAAA, PTR: text; MX: [preference, exchange]; TXT: the
//                            character-strings of each record) until end of input
//
// Strings are JSON with every byte outside printable ASCII written as \u00XX, so that a
// reader gets the zone's bytes back by encoding the decoded text as Latin-1.
#include "auth/spf_suite.h"

#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace herald {
namespace {

using test_support::SuiteCase;
using test_support::SuiteZone;

std::string json_string(std::string_view bytes) {
  std::string out = "\"";
  for (const unsigned char byte : bytes) {
    if (byte < 0x20 || byte >= 0x7f || byte == '"' || byte == '\\') {
      char escaped[7];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", byte);
      out += escaped;
    } else {
      out += static_cast<char>(byte);
    }
  }
  return out + "\"";
}

std::string json_record(const std::string& text) {
  return json_string(text);
}

std::string json_record(const MxRecord& mx) {
  return "[" + std::to_string(mx.preference) + "," + json_string(mx.exchange) + "]";
}

std::string json_record(const TxtRecord& txt) {
  std::string out = "[";
  for (const std::string& part : txt.strings) {
    out += (out.size() > 1 ? "," : "") + json_string(part);
  }
  return out + "]";
}

template <class Record>
std::string json_answer(const DnsAnswer<Record>& answer) {
  std::string records;
  for (const Record& record : answer.records) {
    records += (records.empty() ? "" : ",") + json_record(record);
  }
  return "{\"status\":" + json_string(to_string(answer.status)) + ",\"records\":[" + records + "]}";
}

template <class Record>
std::string ask(SuiteZone& zone, void (Resolver::*lookup)(std::string, Resolver::Done<Record>),
                const std::string& name) {
  std::string line;
  (zone.*lookup)(name, [&](DnsAnswer<Record> answer) { line = json_answer(answer); });
  return line;  // SuiteZone answers before the lookup returns
}

int print_cases(const std::vector<SuiteCase>& cases) {
  for (const SuiteCase& suite_case : cases) {
    const SpfOutcome outcome = test_support::run_spf_suite_case(suite_case);
    std::cout << "{\"id\":" << json_string(suite_case.id)
              << ",\"scenario\":" << suite_case.scenario_index
              << ",\"host\":" << json_string(suite_case.request.client_ip)
              << ",\"mailfrom\":" << json_string(suite_case.request.mail_from)
              << ",\"helo\":" << json_string(suite_case.request.helo)
              << ",\"herald_result\":" << json_string(to_string(outcome.result)) << "}\n";
  }
  return 0;
}

int serve_zones(const std::vector<SuiteCase>& cases) {
  std::map<int, std::shared_ptr<SuiteZone>> zones;
  for (const SuiteCase& suite_case : cases) zones[suite_case.scenario_index] = suite_case.zone;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream fields(line);
    int scenario = 0;
    std::string type;
    std::string name;
    if (!(fields >> scenario >> type) || !std::getline(fields >> std::ws, name) ||
        !zones.count(scenario)) {
      std::cerr << "herald_spf_suite: bad request: " << line << "\n";
      return 2;
    }
    SuiteZone& zone = *zones.at(scenario);
    if (type == "A") {
      std::cout << ask(zone, &Resolver::lookup_a, name);
    } else if (type == "AAAA") {
      std::cout << ask(zone, &Resolver::lookup_aaaa, name);
    } else if (type == "MX") {
      std::cout << ask(zone, &Resolver::lookup_mx, name);
    } else if (type == "TXT") {
      std::cout << ask(zone, &Resolver::lookup_txt, name);
    } else if (type == "PTR") {
      std::cout << ask(zone, &Resolver::lookup_ptr, name);
    } else {
      std::cerr << "herald_spf_suite: unknown record type: " << type << "\n";
      return 2;
    }
    std::cout << std::endl;  // the reader waits for each answer before its next question
  }
  return 0;
}

}  // namespace
}  // namespace herald

int main(int argc, char** argv) {
  const std::string mode = argc == 2 ? argv[1] : "";
  if (mode != "cases" && mode != "zone") {
    std::cerr << "usage: herald_spf_suite cases|zone\n";
    return 2;
  }
  const auto cases = herald::test_support::load_spf_suite();
  return mode == "cases" ? herald::print_cases(cases) : herald::serve_zones(cases);
}
