// Runs the openspf.org RFC 7208 suite (conformance README section 1) against check_spf().
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "auth/spf.h"
#include "dns/memory_resolver.h"

namespace herald {
namespace {

enum class RecordType { a, aaaa, mx, txt, ptr };

// The suite's zone rules (conformance README 1, "ZoneResolver rules") that MemoryResolver
// alone does not cover: timeouts per record type, CNAME chains, and names that exist with
// no records (NODATA rather than NXDOMAIN). Everything else is MemoryResolver's.
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

TEST(SpfOpenSpfSuite, EveryRfc7208CasePasses) {
  auto scenarios = YAML::LoadAllFromFile(HERALD_CONFORMANCE_DIR "/spf-openspf/rfc7208-tests.yml");
  int total = 0;
  int passed = 0;
  SpfOptions options;
  options.default_explanation = "DEFAULT";  // conformance README 1: the harness's default

  for (const YAML::Node& scenario : scenarios) {
    for (const auto& entry : scenario["tests"]) {
      std::string id = entry.first.as<std::string>();
      const YAML::Node& test = entry.second;
      ++total;
      SuiteZone zone(scenario["zonedata"]);
      SpfRequest request;
      request.client_ip = test["host"].as<std::string>();
      request.mail_from = test["mailfrom"].as<std::string>();
      request.helo = test["helo"].as<std::string>();
      SpfOutcome outcome = check_spf_blocking(zone, request, options);

      std::vector<std::string> accepted;
      if (test["result"].IsSequence()) {
        for (const auto& result : test["result"]) accepted.push_back(result.as<std::string>());
      } else {
        accepted.push_back(test["result"].as<std::string>());
      }
      bool ok =
          std::find(accepted.begin(), accepted.end(), to_string(outcome.result)) != accepted.end();
      if (ok && test["explanation"]) {
        ok = outcome.explanation == test["explanation"].as<std::string>();
      }
      if (ok) {
        ++passed;
      } else {
        ADD_FAILURE() << id << " (" << scenario["description"].as<std::string>() << ", spec "
                      << test["spec"].as<std::string>() << "): got " << to_string(outcome.result)
                      << " [" << outcome.reason << "] explanation \"" << outcome.explanation
                      << "\", expected " << YAML::Dump(test["result"])
                      << (test["explanation"] ? " \"" + test["explanation"].as<std::string>() + "\""
                                              : "");
      }
    }
  }
  // Every case runs; none is skipped.
  std::cout << "SPF RFC 7208 suite: " << passed << "/" << total << " passed, 0 skipped\n";
  EXPECT_EQ(total, 203);
  EXPECT_EQ(passed, total);
}

}  // namespace
}  // namespace herald
