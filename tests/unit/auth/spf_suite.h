// The openspf.org RFC 7208 suite (conformance README section 1) as herald's tests read it:
// each scenario's zone data behind a Resolver, and each test case as an SpfRequest. Shared
// by the conformance test and by tests/tools/spf_suite.cpp, which lets python3-spf ask the
// very same zone (tests/integration/test_spf_agreement.py).
#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "auth/spf.h"
#include "dns/memory_resolver.h"

namespace herald::test_support {

constexpr const char* kSpfSuiteFile = HERALD_CONFORMANCE_DIR "/spf-openspf/rfc7208-tests.yml";

// The suite's zone rules (conformance README 1, "ZoneResolver rules") that MemoryResolver
// alone does not cover: timeouts per record type, CNAME chains, and names that exist with
// no records (NODATA rather than NXDOMAIN). Everything else is MemoryResolver's.
//
// Threading: as MemoryResolver's; `done` runs before the lookup returns.
class SuiteZone : public Resolver {
 public:
  explicit SuiteZone(const YAML::Node& zonedata) {
    if (!zonedata) return;
    for (const auto& entry : zonedata) {
      std::string name = normalize_dns_name(entry.first.as<std::string>());
      names_.insert(name);
      const YAML::Node& records = entry.second;
      if (!records.IsSequence()) continue;
      bool has_txt = false;
      for (const auto& record : records) {
        if (record.IsMap() && record["TXT"]) has_txt = true;
      }
      std::set<RecordType> seen;
      for (const auto& record : records) {
        if (record.IsScalar()) {  // a bare TIMEOUT: every type not yet listed times out
          for (RecordType type : {RecordType::a, RecordType::aaaa, RecordType::mx, RecordType::txt,
                                  RecordType::ptr}) {
            if (!seen.count(type)) timeouts_.insert({name, type});
          }
          continue;
        }
        for (const auto& field : record) {
          load(name, field.first.as<std::string>(), field.second, has_txt, seen);
        }
      }
    }
  }

  void lookup_mx(std::string name, Done<MxRecord> done) override {
    ask(std::move(name), RecordType::mx, &MemoryResolver::lookup_mx, std::move(done));
  }
  void lookup_a(std::string name, Done<std::string> done) override {
    ask(std::move(name), RecordType::a, &MemoryResolver::lookup_a, std::move(done));
  }
  void lookup_aaaa(std::string name, Done<std::string> done) override {
    ask(std::move(name), RecordType::aaaa, &MemoryResolver::lookup_aaaa, std::move(done));
  }
  void lookup_txt(std::string name, Done<TxtRecord> done) override {
    ask(std::move(name), RecordType::txt, &MemoryResolver::lookup_txt, std::move(done));
  }
  void lookup_tlsa(std::string name, Done<TlsaRecord> done) override {
    memory_.lookup_tlsa(std::move(name), std::move(done));
  }
  void lookup_ptr(std::string name, Done<std::string> done) override {
    ask(std::move(name), RecordType::ptr, &MemoryResolver::lookup_ptr, std::move(done));
  }

 private:
  enum class RecordType { a, aaaa, mx, txt, ptr };

  void load(const std::string& name, const std::string& type, const YAML::Node& value, bool has_txt,
            std::set<RecordType>& seen) {
    auto timeout_or = [&](RecordType record_type) {
      seen.insert(record_type);
      if (value.IsScalar() && value.as<std::string>() == "TIMEOUT") {
        timeouts_.insert({name, record_type});
        return true;
      }
      return false;
    };
    if (type == "A") {
      if (!timeout_or(RecordType::a)) memory_.add_a(name, value.as<std::string>());
    } else if (type == "AAAA") {
      if (!timeout_or(RecordType::aaaa)) memory_.add_aaaa(name, value.as<std::string>());
    } else if (type == "MX") {
      if (!timeout_or(RecordType::mx)) {
        memory_.add_mx(name, value[0].as<uint16_t>(), value[1].as<std::string>());
      }
    } else if (type == "PTR") {
      if (!timeout_or(RecordType::ptr)) memory_.add_ptr(name, value.as<std::string>());
    } else if (type == "CNAME") {
      cnames_[name] = normalize_dns_name(value.as<std::string>());
    } else if ((type == "TXT" && has_txt) || (type == "SPF" && !has_txt)) {
      // Rule 2: SPF-type records stand in for TXT only where no TXT is listed.
      // "TXT: NONE" lists no record, so a later bare TIMEOUT still applies to TXT.
      if (value.IsScalar() && value.as<std::string>() == "NONE") return;
      if (timeout_or(RecordType::txt)) return;
      std::vector<std::string> strings;
      if (value.IsSequence()) {
        for (const auto& part : value) strings.push_back(part.as<std::string>());
      } else {
        strings.push_back(value.as<std::string>());
      }
      memory_.add_txt(name, std::move(strings));
    }
  }

  template <class Record>
  void ask(std::string name, RecordType type,
           void (MemoryResolver::*method)(std::string, Done<Record>), Done<Record> done) {
    name = normalize_dns_name(name);
    // Rule 5: follow CNAME chains as a recursive resolver would; a loop is a SERVFAIL.
    for (int hops = 0; cnames_.count(name); ++hops) {
      if (hops > 8) return done(DnsAnswer<Record>{DnsStatus::servfail});
      name = cnames_.at(name);
    }
    if (timeouts_.count({name, type})) return done(DnsAnswer<Record>{DnsStatus::timeout});
    bool listed = names_.count(name) > 0;
    (memory_.*method)(name, [&](DnsAnswer<Record> answer) {
      // A listed name without records of any type exists: NODATA, not NXDOMAIN.
      if (listed && answer.status == DnsStatus::nxdomain) answer.status = DnsStatus::no_error;
      done(std::move(answer));
    });
  }

  MemoryResolver memory_;
  std::set<std::string> names_;
  std::set<std::pair<std::string, RecordType>> timeouts_;
  std::map<std::string, std::string> cnames_;
};

// One test of the suite, with the zone of its scenario (shared by the scenario's tests).
struct SuiteCase {
  std::string id;
  std::string scenario;  // the scenario's description
  std::string spec;      // the RFC 7208 section the test exercises
  int scenario_index = 0;
  std::shared_ptr<SuiteZone> zone;
  SpfRequest request;
  std::vector<std::string> accepted_results;  // the first is the suite's preferred one
  std::optional<std::string> explanation;     // the expected expanded exp=, when given
};

// Every test of the suite file, in file order. Throws YAML::Exception on an unreadable file.
inline std::vector<SuiteCase> load_spf_suite(const std::string& path = kSpfSuiteFile) {
  std::vector<SuiteCase> cases;
  const std::vector<YAML::Node> scenarios = YAML::LoadAllFromFile(path);
  for (size_t index = 0; index < scenarios.size(); ++index) {
    const YAML::Node& scenario = scenarios[index];
    auto zone = std::make_shared<SuiteZone>(scenario["zonedata"]);
    for (const auto& entry : scenario["tests"]) {
      const YAML::Node& test = entry.second;
      SuiteCase suite_case;
      suite_case.id = entry.first.as<std::string>();
      suite_case.scenario = scenario["description"].as<std::string>();
      suite_case.spec = test["spec"].as<std::string>();
      suite_case.scenario_index = static_cast<int>(index);
      suite_case.zone = zone;
      suite_case.request.client_ip = test["host"].as<std::string>();
      suite_case.request.mail_from = test["mailfrom"].as<std::string>();
      suite_case.request.helo = test["helo"].as<std::string>();
      if (test["result"].IsSequence()) {
        for (const auto& result : test["result"]) {
          suite_case.accepted_results.push_back(result.as<std::string>());
        }
      } else {
        suite_case.accepted_results.push_back(test["result"].as<std::string>());
      }
      if (test["explanation"]) suite_case.explanation = test["explanation"].as<std::string>();
      cases.push_back(std::move(suite_case));
    }
  }
  return cases;
}

// herald's check_host() on one case, with the harness's default explanation (README 1).
inline SpfOutcome run_spf_suite_case(const SuiteCase& suite_case) {
  SpfOptions options;
  options.default_explanation = "DEFAULT";
  return check_spf_blocking(*suite_case.zone, suite_case.request, options);
}

}  // namespace herald::test_support
