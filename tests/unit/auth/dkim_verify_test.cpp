#include "auth/dkim_verify.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>

#include "auth/dkim_canonical.h"
#include "auth/dkim_sign.h"
#include "auth/dkim_test_support.h"
#include "dns/memory_resolver.h"

namespace herald {
namespace {

using test_support::read_file;
using test_support::read_message;
using test_support::record_text;
using test_support::verify_now;

// After every timestamp in the corpora (the latest is 2018) and before none of their
// expiries but ignore_7's (2007).
const TimePoint kCorpusNow = TimePoint(std::chrono::seconds(1700000000));

std::string dkimpy(const std::string& file) {
  return "dkim-dkimpy/" + file;
}

// conformance README 4: the zone of rfc6376.signed.msg and the RFC 8463 example.
void add_football_zone(MemoryResolver& dns, const std::string& rsa_record) {
  dns.add_txt("brisbane._domainkey.football.example.com",
              {"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="});
  dns.add_txt("test._domainkey.football.example.com", {rsa_record});
}

std::string results(const std::vector<DkimVerdict>& verdicts) {
  std::string out;
  for (const auto& v : verdicts) out += std::string(to_string(v.result)) + " (" + v.reason + ") ";
  return out;
}

class DkimVerifyTest : public ::testing::Test {
 protected:
  MemoryResolver dns_;
  ManualClock clock_{kCorpusNow};
  DkimVerifier verifier_{dns_, clock_};
};

TEST_F(DkimVerifyTest, DkimpySuite) {
  int passed = 0;
  {  // Both signatures of the RFC 8463 draft example, simple/simple.
    MemoryResolver dns;
    add_football_zone(dns,
                      record_text(read_file(test_support::conformance_path(dkimpy("test.txt")))));
    DkimVerifier verifier(dns, clock_);
    const auto verdicts = verify_now(verifier, read_message(dkimpy("rfc6376.signed.msg")));
    ASSERT_EQ(verdicts.size(), 2u);
    EXPECT_EQ(verdicts[0].result, DkimResult::pass) << results(verdicts);
    EXPECT_EQ(verdicts[1].result, DkimResult::pass) << results(verdicts);
    passed += 2;
  }
  {  // Exim's Ed25519 signature: third-party interop.
    MemoryResolver dns;
    dns.add_txt("sed._domainkey.test.ex",
                {record_text(read_file(test_support::conformance_path(dkimpy("eximtest.dns"))))});
    DkimVerifier verifier(dns, clock_);
    const auto verdicts = verify_now(verifier, read_message(dkimpy("ed25519test2.msg")));
    ASSERT_EQ(verdicts.size(), 1u);
    EXPECT_EQ(verdicts[0].result, DkimResult::pass) << results(verdicts);
    ++passed;
  }
  // The bad key records for the RSA signature must not pass; the Ed25519 one still does.
  for (const char* bad : {"test_bad.txt", "badk.txt", "badversion.txt"}) {
    MemoryResolver dns;
    add_football_zone(dns, record_text(read_file(test_support::conformance_path(dkimpy(bad)))));
    DkimVerifier verifier(dns, clock_);
    const auto verdicts = verify_now(verifier, read_message(dkimpy("rfc6376.signed.msg")));
    ASSERT_EQ(verdicts.size(), 2u);
    EXPECT_EQ(verdicts[0].result, DkimResult::pass) << bad << ": " << results(verdicts);
    EXPECT_NE(verdicts[1].result, DkimResult::pass) << bad << ": " << results(verdicts);
    ++passed;
  }
  std::cout << "[ dkimpy   ] " << passed << " of 6 cases passed, 0 skipped\n";
}

TEST_F(DkimVerifyTest, MimekitSuite) {
  int passed = 0;
  {  // RFC 8463 Appendix A as published: relaxed/relaxed, both signatures.
    MemoryResolver dns;
    add_football_zone(dns,
                      record_text(read_file(test_support::conformance_path(dkimpy("test.txt")))));
    DkimVerifier verifier(dns, clock_);
    const auto verdicts = verify_now(verifier, read_message("mimekit/dkim/rfc8463-example.msg"));
    ASSERT_EQ(verdicts.size(), 2u);
    EXPECT_EQ(verdicts[0].result, DkimResult::pass) << results(verdicts);
    EXPECT_EQ(verdicts[1].result, DkimResult::pass) << results(verdicts);
    passed += 2;
  }
  // gmail.pub is a PEM SubjectPublicKeyInfo: its base64 lines are the record's p=.
  std::string p;
  std::string pem = read_file(test_support::conformance_path("mimekit/dkim/gmail.pub"));
  for (size_t pos = 0; pos < pem.size();) {
    const auto eol = std::min(pem.find('\n', pos), pem.size());
    const std::string line = record_text(pem.substr(pos, eol - pos));
    if (line.find("-----") == std::string::npos) p += line;
    pos = eol + 1;
  }
  for (const char* file : {"gmail.msg", "related.msg", "multipart-no-end-boundary.msg"}) {
    MemoryResolver dns;
    dns.add_txt("20120113._domainkey.gmail.com", {"v=DKIM1; k=rsa; p=" + p});
    DkimVerifier verifier(dns, clock_);
    const auto verdicts = verify_now(verifier, read_message(std::string("mimekit/dkim/") + file));
    ASSERT_FALSE(verdicts.empty()) << file;
    EXPECT_EQ(verdicts[0].result, DkimResult::pass) << file << ": " << results(verdicts);
    ++passed;
  }
  std::cout << "[ mimekit  ] " << passed << " of 5 signatures passed, 0 skipped\n";
}

// FAKE_DNS.dat: "name TXT-text" lines, with NXDOMAIN, SERVFAIL, timeout and "" markers.
void load_fake_dns(MemoryResolver& dns) {
  const std::string text = read_file(test_support::conformance_path("dkim-mail-dkim/FAKE_DNS.dat"));
  size_t pos = 0;
  while (pos < text.size()) {
    const auto eol = std::min(text.find('\n', pos), text.size());
    std::string line = record_text(text.substr(pos, eol - pos));
    pos = eol + 1;
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    const auto space = line.find_first_of(" \t");
    const std::string name = line.substr(0, space);
    const auto start = line.find_first_not_of(" \t", space);
    const std::string value = start == std::string::npos ? "" : line.substr(start);
    if (value == "NXDOMAIN") continue;
    if (value == "~~Query timed out~~") {
      dns.fail(name, DnsStatus::timeout);
    } else if (value == "~~SERVFAIL~~") {
      dns.fail(name, DnsStatus::servfail);
    } else if (value == "\"\"") {
      dns.add_txt(name, {""});
    } else {
      dns.add_txt(name, {value});
    }
  }
}

struct MailDkimCase {
  std::string file, expected, sig_type, algorithm, key, upstream_skip, note;
};

std::vector<MailDkimCase> mail_dkim_cases() {
  std::vector<MailDkimCase> cases;
  const std::string text =
      read_file(test_support::conformance_path("dkim-mail-dkim/expected-results.tsv"));
  size_t pos = 0;
  while (pos < text.size()) {
    const auto eol = std::min(text.find('\n', pos), text.size());
    const std::string line = record_text(text.substr(pos, eol - pos));
    pos = eol + 1;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> columns;
    for (size_t at = 0;;) {
      const auto tab = line.find('\t', at);
      columns.push_back(line.substr(at, tab == std::string::npos ? tab : tab - at));
      if (tab == std::string::npos) break;
      at = tab + 1;
    }
    columns.resize(9);
    cases.push_back(
        {columns[0], columns[1], columns[3], columns[4], columns[6], columns[7], columns[8]});
  }
  return cases;
}

// Mail::DKIM's overall result: the best signature wins (pass, then fail, then invalid).
std::string overall(const std::vector<DkimVerdict>& verdicts) {
  std::string best = "none";
  const auto rank = [](const std::string& r) {
    return r == "pass" ? 0 : r == "policy" ? 1 : r == "fail" ? 2 : r == "invalid" ? 3 : 4;
  };
  for (const auto& v : verdicts) {
    std::string r = std::string(to_string(v.result));
    if (r == "permerror" || r == "temperror" || r == "neutral") r = "invalid";
    if (rank(r) < rank(best)) best = r;
  }
  return best;
}

// Why a row of the Mail::DKIM table is not run, or "" to run it.
std::string skip_reason(const MailDkimCase& c) {
  if (c.sig_type == "DomainKeys") return "DomainKeys (RFC 4870) is not DKIM";
  if (c.upstream_skip == "yes") return "pre-standard DKIM draft; upstream skips it too";
  // RFC 4871's key granularity g= was removed by RFC 6376 (3.6.1 has no g=), and unknown
  // key tags are ignored, so these keys are usable today.
  if (c.note.find("g= tag") != std::string::npos || c.note.find("g= !=") != std::string::npos ||
      c.note.find("g= matches") != std::string::npos)
    return "tests RFC 4871 g=, which RFC 6376 removed";
  return "";
}

// True when every DKIM-Signature of the message predates RFC 4871: v= absent or "0.5".
// RFC 6376 3.5 makes v=1 required, so herald rejects these whatever else they test.
bool only_draft_signatures(const std::string& message) {
  bool any = false;
  for (const auto& field : split_dkim_message(message).headers) {
    std::string name(field.name);
    for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (name != "dkim-signature") continue;
    any = true;
    std::string version = "absent";
    std::string value(field.raw.substr(field.raw.find(':') + 1));
    for (size_t at = 0; at <= value.size();) {
      const auto end = std::min(value.find(';', at), value.size());
      std::string tag = record_text(value.substr(at, end - at));
      tag.erase(
          std::remove_if(tag.begin(), tag.end(), [](char ch) { return ch == ' ' || ch == '\t'; }),
          tag.end());
      if (tag.rfind("v=", 0) == 0) version = tag.substr(2);
      at = end + 1;
    }
    if (version == "1") return false;
  }
  return any;
}

bool legacy_rsa(const MailDkimCase& c) {
  if (c.algorithm == "rsa-sha1") return true;
  char* end = nullptr;
  const long bits = std::strtol(c.key.c_str(), &end, 10);
  return end != c.key.c_str() && bits < 1024;
}

// Mail::DKIM corpus, twice: with legacy RSA accepted, every result must be Mail::DKIM's;
// under RFC 8301 (the default), rows that would pass or fail with rsa-sha1 or a short key
// must say policy instead, and the invalid rows stay invalid.
TEST_F(DkimVerifyTest, MailDkimSuite) {
  MemoryResolver dns;
  load_fake_dns(dns);
  DkimVerifier legacy(dns, clock_, DkimVerifyOptions{.accept_legacy_rsa = true});
  DkimVerifier strict(dns, clock_);
  int legacy_passed = 0, strict_passed = 0, skipped = 0, total = 0;
  for (const MailDkimCase& c : mail_dkim_cases()) {
    ++total;
    if (const std::string why = skip_reason(c); !why.empty()) {
      std::cout << "[ Mail::DKIM skipped ] " << c.file << ": " << why << "\n";
      ++skipped;
      continue;
    }
    const std::string message = read_message("dkim-mail-dkim/corpus/" + c.file);
    if (only_draft_signatures(message)) {
      // Not an oracle for what the row tests, but the draft signature must still be refused.
      std::cout << "[ Mail::DKIM skipped ] " << c.file << " (expected " << c.expected
                << "): draft signature without v=1 (RFC 6376 3.5); checked to be permerror\n";
      const auto verdicts = verify_now(legacy, message);
      EXPECT_EQ(overall(verdicts), "invalid") << c.file << ": " << results(verdicts);
      ++skipped;
      continue;
    }
    const auto legacy_verdicts = verify_now(legacy, message);
    EXPECT_EQ(overall(legacy_verdicts), c.expected) << c.file << ": " << results(legacy_verdicts);
    if (overall(legacy_verdicts) == c.expected) ++legacy_passed;

    const std::string strict_expected =
        legacy_rsa(c) && c.expected != "invalid" ? "policy" : c.expected;
    const auto strict_verdicts = verify_now(strict, message);
    EXPECT_EQ(overall(strict_verdicts), strict_expected)
        << c.file << " (RFC 8301): " << results(strict_verdicts);
    if (overall(strict_verdicts) == strict_expected) ++strict_passed;
  }
  std::cout << "[ Mail::DKIM ] " << total << " rows, " << skipped
            << " skipped; legacy RSA: " << legacy_passed << " passed; RFC 8301: " << strict_passed
            << " passed\n";
}

// The Mail::DKIM rows for bad key records (badkey_1 to _7) carry draft signatures that
// herald refuses first, so their records are checked here under fresh v=1 signatures:
// each record is judged before any cryptography, so the key that signs does not matter.
TEST_F(DkimVerifyTest, MailDkimBadKeyRecordsArePermerrors) {
  load_fake_dns(dns_);
  const std::string message = read_message(dkimpy("test.message"));
  const struct {
    const char* selector;
    const char* reason;
  } cases[] = {
      {"nonexistent", "no key record at nonexistent._domainkey.messiah.edu"},
      {"testrevoked", "key revoked"},
      {"testbad1", "key record: unsupported key record version v=DKIM3"},
      {"testbad2", "key record: tag without '=': \"t\""},
      {"testbad3", "key record: unsupported key type k=foobar"},
      {"testbad4", "key record: key is not for email (s=chat)"},
      {"testbad7", "key does not allow sha256"},
  };
  for (const auto& c : cases) {
    auto signer =
        DkimSigner::from_pem(read_file(test_support::conformance_path(dkimpy("test.private"))),
                             "messiah.edu", c.selector);
    ASSERT_TRUE(std::holds_alternative<DkimSigner>(signer));
    const std::string signed_message = std::get<std::string>(std::get<DkimSigner>(signer).sign(
                                           MessageContent::from_text(message), kCorpusNow)) +
                                       message;
    const auto verdicts = verify_now(verifier_, signed_message);
    ASSERT_EQ(verdicts.size(), 1u);
    EXPECT_EQ(verdicts[0].result, DkimResult::permerror) << c.selector;
    EXPECT_EQ(verdicts[0].reason, c.reason) << c.selector;
  }
}

TEST_F(DkimVerifyTest, DnsTimeoutIsTemperrorAndMissingKeyIsPermerror) {
  load_fake_dns(dns_);
  auto verdicts = verify_now(verifier_, read_message("dkim-mail-dkim/corpus/badkey_14.txt"));
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].result, DkimResult::temperror) << verdicts[0].reason;
  verdicts = verify_now(verifier_, read_message("dkim-mail-dkim/corpus/badkey4_ed25519.txt"));
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].result, DkimResult::permerror);
  EXPECT_EQ(verdicts[0].reason,
            "no key record at 2023-05-ed25519-does-not-exist._domainkey.wander.science");
}

TEST_F(DkimVerifyTest, MessageWithoutSignatureHasNoVerdicts) {
  EXPECT_TRUE(verify_now(verifier_, "From: a@b.example\r\n\r\nhi\r\n").empty());
  EXPECT_EQ(dns_.query_count(), 0u);
}

TEST_F(DkimVerifyTest, ExpiryAndFutureTimestampFollowTheClock) {
  add_football_zone(dns_,
                    record_text(read_file(test_support::conformance_path(dkimpy("test.txt")))));
  const std::string message = read_message("mimekit/dkim/rfc8463-example.msg");
  // The example was signed at t=1528637909 with no x=; before that it is from the future.
  clock_.set(TimePoint(std::chrono::seconds(1528637909 - 3600)));
  auto verdicts = verify_now(verifier_, message);
  ASSERT_EQ(verdicts.size(), 2u);
  EXPECT_EQ(verdicts[0].result, DkimResult::permerror);
  EXPECT_EQ(verdicts[0].reason, "signature timestamp is in the future");
  clock_.set(TimePoint(std::chrono::seconds(1528637909 + 60)));
  verdicts = verify_now(verifier_, message);
  EXPECT_EQ(verdicts[0].result, DkimResult::pass) << verdicts[0].reason;

  // ignore_7 carries x=1193229946 (2007): expired one second later, fine one second before.
  load_fake_dns(dns_);
  DkimVerifier legacy(dns_, clock_, DkimVerifyOptions{.accept_legacy_rsa = true});
  const std::string expiring = read_message("dkim-mail-dkim/corpus/ignore_7.txt");
  clock_.set(TimePoint(std::chrono::seconds(1193229946 + 1)));
  verdicts = verify_now(legacy, expiring);
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].reason, "signature expired");
}

}  // namespace
}  // namespace herald
