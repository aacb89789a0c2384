#include "auth/message_authentication.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "auth/arc_seal.h"
#include "auth/dkim_keygen.h"
#include "auth/dkim_sign.h"
#include "dns/memory_resolver.h"

namespace herald {
namespace {

const TimePoint kNow = TimePoint(std::chrono::seconds(1700000000));

std::string message_from(const std::string& from) {
  return "From: " + from + "\r\nTo: alice@example.test\r\nSubject: hi\r\n\r\nHello.\r\n";
}

SpfCheck spf(SpfResult result, const std::string& mail_from, const std::string& domain) {
  SpfCheck check;
  check.request.client_ip = "192.0.2.1";
  check.request.mail_from = mail_from;
  check.request.helo = "client.example";
  check.outcome.result = result;
  check.outcome.domain = domain;
  return check;
}

bool has_field(const std::vector<std::pair<std::string, std::string>>& fields,
               const std::string& key, const std::string& value) {
  return std::find(fields.begin(), fields.end(), std::make_pair(key, value)) != fields.end();
}

class MessageAuthenticationTest : public ::testing::Test {
 protected:
  MessageAuthenticationTest() {
    const DkimKeyPair key = generate_dkim_key(DkimKeyRecord::KeyType::ed25519);
    dns_.add_txt("s1._domainkey.news.good.test", {key.key_record});
    dns_.add_txt("_dmarc.good.test", {"v=DMARC1; p=reject"});
    dns_.add_txt("_dmarc.quiet.test", {"v=DMARC1; p=none"});
    auto loaded = DkimSigner::from_pem(key.private_key_pem, "news.good.test", "s1");
    signer_.emplace(std::get<DkimSigner>(std::move(loaded)));
  }

  std::string signed_message(const std::string& from) {
    const std::string message = message_from(from);
    return std::get<std::string>(signer_->sign(MessageContent::from_text(message), kNow)) + message;
  }

  MessageAuthentication authenticate(const std::string& message, SpfCheck check) {
    MessageAuthentication result;
    bool called = false;
    authenticator_.authenticate(MessageContent::from_text(message), std::move(check),
                                [&](MessageAuthentication a) {
                                  result = std::move(a);
                                  called = true;
                                });
    EXPECT_TRUE(called) << "the memory resolver answers synchronously";
    return result;
  }

  MemoryResolver dns_;
  ManualClock clock_{kNow};
  MessageAuthenticator authenticator_{dns_, clock_};
  std::optional<DkimSigner> signer_;
};

TEST_F(MessageAuthenticationTest, RelaxedAlignedSignaturePassesDmarcWithoutSpf) {
  const auto auth = authenticate(signed_message("<ceo@good.test>"),
                                 spf(SpfResult::none, "bounce@other.test", "other.test"));
  ASSERT_EQ(auth.dkim.size(), 1u);
  EXPECT_EQ(auth.dkim[0].result, DkimResult::pass);
  EXPECT_EQ(auth.from_domain, "good.test");
  EXPECT_EQ(auth.dmarc_result, DmarcResult::pass);
  EXPECT_TRUE(auth.dmarc.dkim_aligned);
  EXPECT_FALSE(auth.dmarc.spf_aligned);
  // The signature vouches for good.test, not for the envelope sender's other.test.
  EXPECT_FALSE(verifies_envelope_sender(auth));
}

TEST_F(MessageAuthenticationTest, UnsignedMailFromAnotherServerFailsUnderPReject) {
  const auto auth = authenticate(message_from("CEO <ceo@good.test>"),
                                 spf(SpfResult::pass, "x@forger.test", "forger.test"));
  EXPECT_EQ(auth.dmarc_result, DmarcResult::fail);
  EXPECT_EQ(auth.dmarc.policy, DmarcPolicy::reject);
  EXPECT_EQ(auth.dmarc.disposition, DmarcPolicy::reject);
  // SPF passed for forger.test: that sender is who it says, and may get DSNs.
  EXPECT_TRUE(verifies_envelope_sender(auth));
}

TEST_F(MessageAuthenticationTest, AlignedSpfPassIsEnoughAndVerifiesTheSender) {
  const auto auth = authenticate(message_from("ceo@good.test"),
                                 spf(SpfResult::pass, "bounces@mail.good.test", "mail.good.test"));
  EXPECT_EQ(auth.dmarc_result, DmarcResult::pass);
  EXPECT_TRUE(auth.dmarc.spf_aligned);
  EXPECT_TRUE(verifies_envelope_sender(auth));
}

TEST_F(MessageAuthenticationTest, SignatureAlignedWithTheEnvelopeDomainVerifiesTheSender) {
  const auto auth = authenticate(signed_message("ceo@good.test"),
                                 spf(SpfResult::softfail, "list@good.test", "good.test"));
  EXPECT_TRUE(verifies_envelope_sender(auth));
}

TEST_F(MessageAuthenticationTest, NullSenderIsNeverVerified) {
  const auto auth = authenticate(signed_message("mailer-daemon@good.test"),
                                 spf(SpfResult::pass, "", "client.example"));
  EXPECT_FALSE(verifies_envelope_sender(auth));
}

TEST_F(MessageAuthenticationTest, DomainWithoutPolicyIsNone) {
  const auto auth = authenticate(message_from("a@nopolicy.test"),
                                 spf(SpfResult::none, "a@nopolicy.test", "nopolicy.test"));
  EXPECT_EQ(auth.dmarc_result, DmarcResult::none);
  EXPECT_FALSE(auth.dmarc_reason.empty());
}

TEST_F(MessageAuthenticationTest, PolicyNoneFailsWithoutConsequence) {
  const auto auth = authenticate(message_from("a@quiet.test"),
                                 spf(SpfResult::fail, "a@quiet.test", "quiet.test"));
  EXPECT_EQ(auth.dmarc_result, DmarcResult::fail);
  EXPECT_EQ(auth.dmarc.disposition, DmarcPolicy::none);
}

TEST_F(MessageAuthenticationTest, DnsTroubleIsTemperror) {
  dns_.fail("_dmarc.broken.test", DnsStatus::servfail);
  const auto auth = authenticate(message_from("a@broken.test"),
                                 spf(SpfResult::none, "a@broken.test", "broken.test"));
  EXPECT_EQ(auth.dmarc_result, DmarcResult::temperror);
}

TEST_F(MessageAuthenticationTest, TwoAuthorDomainsArePermerror) {
  const auto auth = authenticate(message_from("a@good.test, b@other.test"),
                                 spf(SpfResult::none, "a@good.test", "good.test"));
  EXPECT_EQ(auth.dmarc_result, DmarcResult::permerror);
  EXPECT_EQ(auth.from_domain, "");
  EXPECT_NE(auth.dmarc_reason.find("several domains"), std::string::npos) << auth.dmarc_reason;
}

TEST_F(MessageAuthenticationTest, ResultsForTheHeaderAndTheLedger) {
  const auto auth = authenticate(signed_message("ceo@good.test"),
                                 spf(SpfResult::pass, "ceo@good.test", "good.test"));
  std::string field = authentication_results_field("mx.example.test", authentication_results(auth));
  for (size_t fold; (fold = field.find("\r\n ")) != std::string::npos;) field.erase(fold, 2);
  EXPECT_EQ(field.rfind("Authentication-Results: mx.example.test;", 0), 0u) << field;
  for (const char* part : {"spf=pass", "smtp.mailfrom=ceo@good.test", "dkim=pass",
                           "header.d=news.good.test", "header.s=s1", "header.a=ed25519-sha256",
                           "arc=none", "dmarc=pass (p=reject dis=none)", "header.from=good.test"}) {
    EXPECT_NE(field.find(part), std::string::npos) << part << " in " << field;
  }
  const auto fields = auth_event_fields(auth);
  EXPECT_TRUE(has_field(fields, "spf", "pass smtp.mailfrom=ceo@good.test"));
  EXPECT_TRUE(has_field(fields, "dkim", "pass d=news.good.test s=s1"));
  EXPECT_TRUE(has_field(fields, "arc", "none"));
  EXPECT_TRUE(has_field(fields, "dmarc", "pass from=good.test p=reject dis=none"));
  EXPECT_TRUE(has_field(fields, "sender_verified", "yes"));
}

// A forwarder's seal: the chain passes and names its sealer, next to DKIM and DMARC.
TEST_F(MessageAuthenticationTest, SealedChainIsValidatedSideBySideWithDkim) {
  const DkimKeyPair key = generate_dkim_key(DkimKeyRecord::KeyType::ed25519);
  dns_.add_txt("arc._domainkey.lists.test", {key.key_record});
  const auto sealer =
      std::get<ArcSealer>(ArcSealer::from_pem(key.private_key_pem, "lists.test", "arc"));
  const std::string message = signed_message("ceo@good.test");
  const std::string sealed = std::get<std::string>(sealer.seal(
                                 MessageContent::from_text(message), "mx.lists.test",
                                 "spf=pass smtp.mailfrom=good.test", ArcChainResult::none, kNow)) +
                             message;
  const auto auth =
      authenticate(sealed, spf(SpfResult::none, "list-bounces@lists.test", "lists.test"));
  EXPECT_EQ(auth.arc.result, ArcChainResult::pass) << auth.arc.reason;
  EXPECT_EQ(auth.arc.instance, 1);
  EXPECT_EQ(auth.arc.sealer_domain, "lists.test");
  EXPECT_EQ(auth.dkim.size(), 1u);
  EXPECT_EQ(auth.dmarc_result, DmarcResult::pass);
  EXPECT_TRUE(has_field(auth_event_fields(auth), "arc", "pass i=1 d=lists.test"));
  const auto results = authentication_results(auth);
  const auto arc = std::find_if(results.begin(), results.end(),
                                [](const AuthResult& r) { return r.method == "arc"; });
  ASSERT_NE(arc, results.end());
  EXPECT_EQ(arc->result, "pass");
  EXPECT_EQ(arc->reason, "i=1 d=lists.test");
}

TEST_F(MessageAuthenticationTest, NullSenderResultsNameTheHelo) {
  SpfCheck check = spf(SpfResult::none, "", "client.example");
  const auto results = authentication_results(authenticate(message_from("a@good.test"), check));
  ASSERT_FALSE(results.empty());
  EXPECT_EQ(results[0].method, "spf");
  EXPECT_EQ(results[0].properties[0],
            (std::pair<std::string, std::string>{"smtp.helo", "client.example"}));
}

}  // namespace
}  // namespace herald
