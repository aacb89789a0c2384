#include "transport/dkim_signing_transport.h"

#include <gtest/gtest.h>

#include <fstream>

#include "auth/dkim_keygen.h"
#include "auth/dkim_test_support.h"
#include "dns/memory_resolver.h"
#include "support/temp_dir.h"

namespace herald {
namespace {

using test_support::verify_now;

const TimePoint kNow = TimePoint(std::chrono::seconds(1700000000));

constexpr std::string_view kSubmitted =
    "Received: from laptop.example.test by mx.example.test; Tue, 14 Nov 2023 22:13:20 +0000\r\n"
    "From: Alice <alice@example.test>\r\n"
    "To: bob@remote.test\r\n"
    "Subject: signed on the way out\r\n"
    "\r\n"
    "hello bob\r\n";

// Records what it was given and answers with a fixed result.
class RecordingTransport final : public Transport {
 public:
  AttemptResult attempt(const MessageRecord&, const Delivery&,
                        const MessageContent& content) override {
    contents.push_back(content.to_text());
    bodies.push_back(content.body.get());
    return result;
  }
  std::vector<AttemptResult> attempt_together(const MessageRecord&,
                                              const std::vector<Delivery>& deliveries,
                                              const MessageContent& content) override {
    contents.push_back(content.to_text());
    bodies.push_back(content.body.get());
    together_calls++;
    return std::vector<AttemptResult>(deliveries.size(), result);
  }

  AttemptResult result{AttemptResult::Outcome::delivered, "250 2.0.0 ok", {}};
  std::vector<std::string> contents;
  std::vector<const MessageBody*> bodies;  // which body each attempt was given
  int together_calls = 0;
};

MessageRecord submitted_by_alice() {
  MessageRecord message;
  message.id = "01TESTMESSAGE";
  message.envelope.listener = "submission";
  message.envelope.peer_ip = "192.0.2.7";
  message.envelope.authenticated_as = "alice@example.test";
  return message;
}

MessageRecord from_the_internet() {
  MessageRecord message;
  message.id = "01TESTINBOUND";
  message.envelope.listener = "smtp";
  message.envelope.peer_ip = "203.0.113.9";
  return message;
}

// The DKIM-Signature fields above the original content, counted.
size_t signature_count(const std::string& content) {
  size_t count = 0;
  for (size_t at = 0; (at = content.find("DKIM-Signature:", at)) != std::string::npos; ++at)
    ++count;
  return count;
}

class DkimSigningTransportTest : public ::testing::Test {
 protected:
  DkimSigningTransportTest() {
    dns_.add_txt("rsa._domainkey.example.test", {rsa_.key_record});
    dns_.add_txt("ed._domainkey.example.test", {ed25519_.key_record});
  }

  DkimConfig entry(const std::string& selector, const DkimKeyPair& key) {
    const std::filesystem::path file = dir_.path() / (selector + ".pem");
    std::ofstream(file, std::ios::binary) << key.private_key_pem;
    return DkimConfig{"example.test", selector, file};
  }

  // What the inner transport received for one attempt of `message` with `content`.
  std::string sent(const MessageRecord& message, std::string_view content = kSubmitted) {
    inner_.contents.clear();
    signing_.attempt(message, Delivery{}, MessageContent::from_text(content));
    EXPECT_EQ(inner_.contents.size(), 1u);
    return inner_.contents.empty() ? "" : inner_.contents.back();
  }

  static const DkimKeyPair rsa_;  // one per suite: an RSA key takes a while to make
  DkimKeyPair ed25519_ = generate_dkim_key(DkimKeyRecord::KeyType::ed25519);
  test_support::TempDir dir_;
  Swappable<DkimSigningTable> keys_{std::make_shared<const DkimSigningTable>(
      std::vector<DkimConfig>{entry("rsa", rsa_), entry("ed", ed25519_)})};
  ManualClock clock_{kNow};
  RecordingTransport inner_;
  DkimSigningTransport signing_{inner_, keys_, {*IpNetwork::parse("10.0.0.0/8")}, clock_};
  MemoryResolver dns_;
  DkimVerifier verifier_{dns_, clock_};
};

const DkimKeyPair DkimSigningTransportTest::rsa_ = generate_dkim_key(DkimKeyRecord::KeyType::rsa);

TEST(VouchesForOrigin, SubmissionTrustedNetworksAndOwnDsnsOnly) {
  const std::vector<IpNetwork> trusted = {*IpNetwork::parse("10.0.0.0/8")};
  EXPECT_TRUE(vouches_for_origin(submitted_by_alice().envelope, trusted));
  Envelope relayed_for_lan = from_the_internet().envelope;
  relayed_for_lan.peer_ip = "10.1.2.3";
  EXPECT_TRUE(vouches_for_origin(relayed_for_lan, trusted));
  relayed_for_lan.peer_ip = "::ffff:10.1.2.3";
  EXPECT_TRUE(vouches_for_origin(relayed_for_lan, trusted));
  Envelope dsn;
  dsn.listener = "dsn";
  EXPECT_TRUE(vouches_for_origin(dsn, trusted));
  EXPECT_FALSE(vouches_for_origin(from_the_internet().envelope, trusted));
  EXPECT_FALSE(vouches_for_origin(relayed_for_lan, {}));
}

TEST_F(DkimSigningTransportTest, SubmissionIsDualSignedAndBothSignaturesVerify) {
  const std::string content = sent(submitted_by_alice());
  ASSERT_EQ(signature_count(content), 2u) << content;
  EXPECT_TRUE(content.ends_with(kSubmitted)) << "the fields go above the message unchanged";
  EXPECT_NE(content.find("t=1700000000"), std::string::npos) << "t= is the clock's now";

  const auto verdicts = verify_now(verifier_, content);
  ASSERT_EQ(verdicts.size(), 2u);
  EXPECT_EQ(verdicts[0].algorithm, DkimAlgorithm::rsa_sha256);
  EXPECT_EQ(verdicts[0].selector, "rsa");
  EXPECT_EQ(verdicts[1].algorithm, DkimAlgorithm::ed25519_sha256);
  EXPECT_EQ(verdicts[1].selector, "ed");
  for (const DkimVerdict& verdict : verdicts) {
    EXPECT_EQ(verdict.result, DkimResult::pass) << verdict.selector << ": " << verdict.reason;
    EXPECT_EQ(verdict.domain, "example.test");
  }
}

TEST_F(DkimSigningTransportTest, TrustedNetworkClientsMailIsSigned) {
  MessageRecord message = from_the_internet();
  message.envelope.peer_ip = "10.20.30.40";
  EXPECT_EQ(signature_count(sent(message)), 2u);
}

TEST_F(DkimSigningTransportTest, MailFromTheInternetIsForwardedUnsigned) {
  // Even with an author in a domain herald signs for: herald did not see it written.
  EXPECT_EQ(sent(from_the_internet()), kSubmitted);
}

TEST_F(DkimSigningTransportTest, HeraldsOwnDsnIsSignedWithTheKeysOfItsHostnamesParentDomain) {
  MessageRecord dsn;
  dsn.id = "01TESTDSN";
  dsn.envelope.listener = "dsn";
  const std::string notice =
      "From: \"Mail Delivery System\" <MAILER-DAEMON@mx.example.test>\r\n"
      "To: alice@example.test\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\nsorry\r\n";
  const std::string content = sent(dsn, notice);
  const auto verdicts = verify_now(verifier_, content);
  ASSERT_EQ(verdicts.size(), 2u) << content;
  for (const DkimVerdict& verdict : verdicts) {
    EXPECT_EQ(verdict.result, DkimResult::pass) << verdict.selector << ": " << verdict.reason;
    EXPECT_EQ(verdict.domain, "example.test");
  }
}

TEST_F(DkimSigningTransportTest, AuthorInADomainWithoutKeysGoesUnsigned) {
  const std::string other =
      "From: carol@elsewhere.test\r\nTo: bob@remote.test\r\nSubject: x\r\n\r\nhi\r\n";
  EXPECT_EQ(sent(submitted_by_alice(), other), other);
}

TEST_F(DkimSigningTransportTest, OurOwnSignatureIsNotAddedTwice) {
  const std::string once = sent(submitted_by_alice());
  const std::string again = sent(submitted_by_alice(), once);
  EXPECT_EQ(again, once);

  // Only the key that has not signed yet adds a field.
  const std::string rsa_field = once.substr(0, once.find("DKIM-Signature:", 1));
  const std::string rsa_only = rsa_field + std::string(kSubmitted);
  ASSERT_EQ(signature_count(rsa_only), 1u);
  const std::string completed = sent(submitted_by_alice(), rsa_only);
  EXPECT_EQ(signature_count(completed), 2u);
  const auto verdicts = verify_now(verifier_, completed);
  ASSERT_EQ(verdicts.size(), 2u);
  EXPECT_EQ(verdicts[0].selector, "ed");
  EXPECT_EQ(verdicts[0].result, DkimResult::pass) << verdicts[0].reason;
  EXPECT_EQ(verdicts[1].selector, "rsa");
  EXPECT_EQ(verdicts[1].result, DkimResult::pass) << verdicts[1].reason;
}

TEST_F(DkimSigningTransportTest, MessageWithoutFromGoesOutUnsignedWithTheInnerResult) {
  inner_.result = {AttemptResult::Outcome::permanent, "550 5.7.1 no thanks", {}};
  const std::string no_from = "To: bob@remote.test\r\nSubject: x\r\n\r\nhi\r\n";
  const AttemptResult result =
      signing_.attempt(submitted_by_alice(), Delivery{}, MessageContent::from_text(no_from));
  EXPECT_EQ(result.outcome, AttemptResult::Outcome::permanent);
  EXPECT_EQ(result.reply, "550 5.7.1 no thanks");
  EXPECT_EQ(inner_.contents, std::vector<std::string>{no_from});
}

TEST_F(DkimSigningTransportTest, DeliveriesCarriedTogetherShareOneSignedCopy) {
  const std::vector<Delivery> deliveries(3);
  const auto results = signing_.attempt_together(submitted_by_alice(), deliveries,
                                                 MessageContent::from_text(kSubmitted));
  EXPECT_EQ(results.size(), 3u);
  EXPECT_EQ(inner_.together_calls, 1);
  ASSERT_EQ(inner_.contents.size(), 1u);
  EXPECT_EQ(signature_count(inner_.contents[0]), 2u);
}

// The signatures go on top of the header; the body the inner transport reads is the
// original's own, never a copy.
TEST_F(DkimSigningTransportTest, TheSignedContentSharesTheOriginalsBody) {
  const MessageContent original = MessageContent::from_text(kSubmitted);
  signing_.attempt(submitted_by_alice(), Delivery{}, original);
  ASSERT_EQ(inner_.bodies.size(), 1u);
  EXPECT_EQ(inner_.bodies[0], original.body.get());
  EXPECT_EQ(signature_count(inner_.contents[0]), 2u);
  EXPECT_TRUE(inner_.contents[0].ends_with(kSubmitted));
}

}  // namespace
}  // namespace herald
