// What a signature-stacking sender can make the verifier do (issue 8): at most
// max_signatures fields are checked, with one summary verdict for the rest; signatures with
// different c= and l= share the body work and each still verifies on its own terms; a large
// body with several signatures verifies; and on a pool the checks leave the caller's thread.
#include <gtest/gtest.h>

#include <boost/asio/thread_pool.hpp>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "auth/arc_seal.h"
#include "auth/dkim_canonical.h"
#include "auth/dkim_crypto.h"
#include "auth/dkim_keygen.h"
#include "auth/dkim_sign.h"
#include "auth/dkim_test_support.h"
#include "auth/dkim_verify.h"
#include "auth/message_authentication.h"
#include "dns/memory_resolver.h"

namespace herald {
namespace {

using test_support::verify_now;

const TimePoint kNow = TimePoint(std::chrono::seconds(1700000000));

std::string message_with_body(std::string body) {
  return "From: Alice <alice@one.test>\r\nTo: bob@example.test\r\nSubject: figures\r\n\r\n" +
         std::move(body);
}

std::string_view name(DkimCanonicalization how) {
  return how == DkimCanonicalization::simple ? "simple" : "relaxed";
}

// One RSA key published under every domain the tests sign for: each domain still costs its
// own lookup, and key generation stays out of the way.
class DkimVerifyLimitsTest : public ::testing::Test {
 protected:
  DkimVerifyLimitsTest() : pair_(generate_dkim_key(DkimKeyRecord::KeyType::rsa)) {
    key_ = std::get<DkimPrivateKey>(load_dkim_private_key(pair_.private_key_pem));
  }

  std::string domain(size_t i) const { return "d" + std::to_string(i) + ".test"; }

  void publish(const std::string& domain) {
    dns_.add_txt("sel._domainkey." + domain, {pair_.key_record});
  }

  // `message` with DkimSigner fields for d0.test .. d<count-1>.test, each put on top of the
  // ones before as successive hops would: d<count-1>.test is the topmost.
  std::string signed_by(size_t count, const std::string& message) {
    std::string fields;
    for (size_t i = 0; i < count; ++i) {
      publish(domain(i));
      const DkimSigner signer =
          std::get<DkimSigner>(DkimSigner::from_pem(pair_.private_key_pem, domain(i), "sel"));
      fields.insert(0,
                    std::get<std::string>(signer.sign(MessageContent::from_text(message), kNow)));
    }
    return fields + message;
  }

  // A DKIM-Signature made by hand (DkimSigner signs relaxed/relaxed whole bodies only), with
  // the given c= and l=, over From, To and Subject, from the reference canonicalisation.
  std::string field(const std::string& d, const std::string& message, DkimCanonicalization header,
                    DkimCanonicalization body, std::optional<uint64_t> length) {
    publish(d);
    const DkimMessageParts parts = split_dkim_message(message);
    std::string canonical = canonicalize_body(parts.body, body);
    if (length) canonical.resize(*length);
    std::string out = "DKIM-Signature: v=1; a=rsa-sha256; c=" + std::string(name(header)) + "/" +
                      std::string(name(body)) + "; d=" + d + "; s=sel; h=from:to:subject;" +
                      (length ? " l=" + std::to_string(*length) + ";" : std::string()) +
                      " bh=" + encode_base64(dkim_digest(DkimAlgorithm::rsa_sha256, canonical)) +
                      "; b=\r\n";
    const std::string data = dkim_header_hash_input(parts.headers, {"from", "to", "subject"},
                                                    {"DKIM-Signature", out}, header);
    const auto signature = sign_dkim_data(key_.key.get(), DkimAlgorithm::rsa_sha256, data);
    out.insert(out.size() - 2, encode_base64(signature.value()));
    return out;
  }

  DkimKeyPair pair_;
  DkimPrivateKey key_;
  MemoryResolver dns_;
  ManualClock clock_{kNow};
};

TEST_F(DkimVerifyLimitsTest, SixSignaturesUnderACapOfFiveCheckFiveAndSummariseOne) {
  const std::string message = signed_by(6, message_with_body("Hello.\r\n"));
  DkimVerifier verifier(dns_, clock_, DkimVerifyOptions{.max_signatures = 5});
  const auto verdicts = verify_now(verifier, message);
  ASSERT_EQ(verdicts.size(), 6u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(verdicts[i].result, DkimResult::pass) << verdicts[i].reason;
    // The topmost field is the last one signed (d5.test): message order, newest first.
    EXPECT_EQ(verdicts[i].domain, domain(5 - i));
  }
  EXPECT_EQ(verdicts[5].result, DkimResult::policy);
  EXPECT_EQ(verdicts[5].reason, "too many signatures, 1 not checked");
  EXPECT_TRUE(verdicts[5].domain.empty());
  // The sixth key was never looked up: the cap bounds the DNS work too.
  EXPECT_EQ(dns_.query_count(), 5u);
}

TEST_F(DkimVerifyLimitsTest, AuthenticationResultsCarryOneSummaryForUncheckedSignatures) {
  dns_.add_txt("_dmarc.one.test", {"v=DMARC1; p=none"});
  const std::string message = signed_by(8, message_with_body("Hello.\r\n"));
  MessageAuthenticator authenticator(dns_, clock_,
                                     MessageAuthenticatorOptions{.max_dkim_signatures = 5});
  MessageAuthentication auth;
  bool called = false;
  SpfCheck spf;
  spf.request.mail_from = "alice@one.test";
  authenticator.authenticate(MessageContent::from_text(message), spf, [&](MessageAuthentication a) {
    auth = std::move(a);
    called = true;
  });
  ASSERT_TRUE(called);
  const auto results = authentication_results(auth);
  size_t dkim_pass = 0;
  std::vector<AuthResult> policy;
  for (const AuthResult& r : results) {
    if (r.method != "dkim") continue;
    if (r.result == "pass") ++dkim_pass;
    if (r.result == "policy") policy.push_back(r);
  }
  EXPECT_EQ(dkim_pass, 5u);
  ASSERT_EQ(policy.size(), 1u);
  EXPECT_EQ(policy[0].reason, "too many signatures, 3 not checked");
  EXPECT_TRUE(policy[0].properties.empty());
}

// The author's signature is the oldest, so the bottom one; six others were stacked above it.
// Past the cap the From-aligned one is still checked, and DMARC passes.
TEST_F(DkimVerifyLimitsTest, PastTheCapTheSignatureAlignedWithFromIsCheckedFirst) {
  dns_.add_txt("_dmarc.one.test", {"v=DMARC1; p=reject"});
  const std::string plain = message_with_body("Hello.\r\n");
  publish("mail.one.test");
  const DkimSigner author =
      std::get<DkimSigner>(DkimSigner::from_pem(pair_.private_key_pem, "mail.one.test", "sel"));
  const std::string message = signed_by(
      6, std::get<std::string>(author.sign(MessageContent::from_text(plain), kNow)) + plain);
  MessageAuthenticator authenticator(dns_, clock_,
                                     MessageAuthenticatorOptions{.max_dkim_signatures = 5});
  MessageAuthentication auth;
  SpfCheck spf;
  spf.request.mail_from = "bounces@elsewhere.test";
  authenticator.authenticate(MessageContent::from_text(message), spf,
                             [&](MessageAuthentication a) { auth = std::move(a); });
  ASSERT_EQ(auth.dkim.size(), 6u);
  // Message order among those checked: the four topmost of the others, then the author's.
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(auth.dkim[i].domain, domain(5 - i));
  EXPECT_EQ(auth.dkim[4].domain, "mail.one.test");
  EXPECT_EQ(auth.dkim[4].result, DkimResult::pass) << auth.dkim[4].reason;
  EXPECT_EQ(auth.dkim[5].reason, "too many signatures, 2 not checked");
  EXPECT_EQ(auth.dmarc_result, DmarcResult::pass);

  // Without the preference (the verifier on its own), the topmost five.
  DkimVerifier verifier(dns_, clock_);
  const auto topmost = verify_now(verifier, message);
  ASSERT_EQ(topmost.size(), 6u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(topmost[i].domain, domain(5 - i));
}

TEST_F(DkimVerifyLimitsTest, FiveSignaturesOverTenMebibytesAllPass) {
  std::string body;
  const std::string line = "The figures for the quarter,  in  full:\t" + std::string(36, '9');
  while (body.size() < 10 * 1024 * 1024) body += line + "\r\n";
  const std::string message = signed_by(5, message_with_body(std::move(body)));
  DkimVerifier verifier(dns_, clock_);
  const auto verdicts = verify_now(verifier, message);
  ASSERT_EQ(verdicts.size(), 5u);
  for (const DkimVerdict& verdict : verdicts) {
    EXPECT_EQ(verdict.result, DkimResult::pass) << verdict.domain << ": " << verdict.reason;
  }
}

// Eight signatures over one body, no two with the same (c=, l=) but some sharing the body
// canonicalisation: each verifies against its own cut of its own canonical body, and text
// added after the cuts breaks exactly the signatures that cover it.
TEST_F(DkimVerifyLimitsTest, DifferentCanonicalisationsAndLengthsShareTheBodyWork) {
  using C = DkimCanonicalization;
  const std::string original =
      message_with_body("  Quarterly \t figures  \r\nline two\t\r\n\r\nline  four\r\n \r\n\r\n");
  struct Case {
    C header;
    C body;
    std::optional<uint64_t> length;
  };
  const std::vector<Case> cases = {
      {C::simple, C::simple, std::nullopt},
      {C::relaxed, C::relaxed, std::nullopt},
      {C::relaxed, C::simple, std::nullopt},
      {C::simple, C::relaxed, std::nullopt},
      {C::simple, C::simple, 10},
      {C::relaxed, C::relaxed, 10},
      {C::relaxed, C::relaxed, 0},
      {C::simple, C::relaxed, 29},
  };
  std::string fields;
  for (size_t i = 0; i < cases.size(); ++i)
    fields += field(domain(i), original, cases[i].header, cases[i].body, cases[i].length);

  DkimVerifier verifier(dns_, clock_, DkimVerifyOptions{.max_signatures = 10});
  const auto verdicts = verify_now(verifier, fields + original);
  ASSERT_EQ(verdicts.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(verdicts[i].result, DkimResult::pass) << i << ": " << verdicts[i].reason;
  }

  // A line appended after the body: the whole-body signatures fail, the cut ones still pass.
  const auto changed = verify_now(verifier, fields + original + "P.S. wire the money\r\n");
  ASSERT_EQ(changed.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const DkimResult expected = cases[i].length ? DkimResult::pass : DkimResult::fail;
    EXPECT_EQ(changed[i].result, expected) << i << ": " << changed[i].reason;
  }

  // A body cut shorter than an l=: that signature is a permerror, the others unaffected.
  const std::string short_body = message_with_body("  Quarterly\r\n");
  const auto cut =
      verify_now(verifier, field(domain(20), short_body, C::relaxed, C::relaxed, std::nullopt) +
                               fields.substr(fields.find("DKIM-Signature", 1)) + short_body);
  EXPECT_EQ(cut.front().result, DkimResult::pass) << cut.front().reason;
  EXPECT_EQ(cut.back().result, DkimResult::permerror) << cut.back().reason;  // l=29 > 12
}

// heraldd's arrangement: the checks run on a pool, not on the thread that has the key answers
// (with a MemoryResolver, the caller's), and the results are the same. DKIM and ARC share
// the message's body hashes from several pool threads at once.
TEST_F(DkimVerifyLimitsTest, OnAPoolTheChecksLeaveTheCallersThread) {
  dns_.add_txt("_dmarc.one.test", {"v=DMARC1; p=reject"});
  const DkimKeyPair arc_key = generate_dkim_key(DkimKeyRecord::KeyType::ed25519);
  dns_.add_txt("arc._domainkey.lists.test", {arc_key.key_record});
  const auto sealer =
      std::get<ArcSealer>(ArcSealer::from_pem(arc_key.private_key_pem, "lists.test", "arc"));
  std::string body;
  while (body.size() < 1024 * 1024) body += std::string(76, 'z') + "\r\n";
  const std::string signed_message = signed_by(5, message_with_body(std::move(body)));
  const std::string message =
      std::get<std::string>(sealer.seal(MessageContent::from_text(signed_message), "mx.lists.test",
                                        "spf=pass", ArcChainResult::none, kNow)) +
      signed_message;
  boost::asio::thread_pool pool(2);
  MessageAuthenticator authenticator(dns_, clock_,
                                     MessageAuthenticatorOptions{.executor = pool.get_executor()});
  std::promise<std::pair<MessageAuthentication, std::thread::id>> done;
  SpfCheck spf;
  spf.request.mail_from = "alice@one.test";
  authenticator.authenticate(MessageContent::from_text(message), spf,
                             [&](MessageAuthentication auth) {
                               done.set_value({std::move(auth), std::this_thread::get_id()});
                             });
  auto [auth, thread] = done.get_future().get();
  pool.join();
  EXPECT_NE(thread, std::this_thread::get_id());
  ASSERT_EQ(auth.dkim.size(), 5u);
  for (const DkimVerdict& verdict : auth.dkim) EXPECT_EQ(verdict.result, DkimResult::pass);
  EXPECT_EQ(auth.arc.result, ArcChainResult::pass) << auth.arc.reason;
  EXPECT_EQ(auth.dmarc_result, DmarcResult::fail);  // d0..d4.test are not one.test
}

}  // namespace
}  // namespace herald
