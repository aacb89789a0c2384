// ArcSealer and ArcVerifier together: what one sealer writes the verifier accepts, chains of
// several sealers, a message changed after sealing, and the limits of RFC 8617.
#include "auth/arc_seal.h"

#include <gtest/gtest.h>

#include "auth/arc_test_support.h"
#include "auth/arc_verify.h"
#include "auth/dkim_keygen.h"
#include "auth/piece_body.h"
#include "dns/memory_resolver.h"

namespace herald {
namespace {

using test_support::verify_arc_now;

const TimePoint kNow = TimePoint(std::chrono::seconds(1700000000));

const std::string kMessage =
    "From: Alice <alice@origin.test>\r\n"
    "To: list@lists.test\r\n"
    "Subject: Minutes\r\n"
    "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
    "Message-ID: <1@origin.test>\r\n"
    "\r\n"
    "The minutes are attached.\r\n";

class ArcSealTest : public ::testing::Test {
 protected:
  // A sealer for `domain` whose key is published in the zone at arc._domainkey.domain.
  ArcSealer sealer_for(const std::string& domain, DkimKeyRecord::KeyType type) {
    const DkimKeyPair pair = generate_dkim_key(type);
    zone_.add_txt("arc._domainkey." + domain, {pair.key_record});
    auto loaded = ArcSealer::from_pem(pair.private_key_pem, domain, "arc");
    if (auto* error = std::get_if<ArcSealError>(&loaded)) {
      ADD_FAILURE() << error->reason;
      std::abort();
    }
    return std::get<ArcSealer>(std::move(loaded));
  }

  // The message with the sealer's three fields on top, as a relay would pass it on.
  static std::string sealed(const ArcSealer& sealer, const std::string& message,
                            ArcChainResult chain) {
    auto fields = sealer.seal(MessageContent::from_text(message), "mx.relay.test",
                              "spf=pass smtp.mailfrom=origin.test", chain, kNow);
    if (auto* error = std::get_if<ArcSealError>(&fields)) {
      ADD_FAILURE() << error->reason;
      return message;
    }
    return std::get<std::string>(fields) + message;
  }

  // The message with the first `from` replaced by `to`, as an intermediary might change it.
  static std::string changed(std::string message, std::string_view from, std::string_view to) {
    return message.replace(message.find(from), from.size(), to);
  }

  ArcVerdict verify(const std::string& message) { return verify_arc_now(verifier_, message); }

  MemoryResolver zone_;
  ManualClock clock_{kNow};
  ArcVerifier verifier_{zone_, clock_};
};

TEST_F(ArcSealTest, MessageWithoutArcFieldsIsNone) {
  const ArcVerdict verdict = verify(kMessage);
  EXPECT_EQ(verdict.result, ArcChainResult::none);
  EXPECT_EQ(verdict.instance, 0);
  EXPECT_EQ(verdict.sealer_domain, "");
}

TEST_F(ArcSealTest, RsaSealVerifiesAsPass) {
  const ArcSealer sealer = sealer_for("relay.test", DkimKeyRecord::KeyType::rsa);
  const std::string message = sealed(sealer, kMessage, ArcChainResult::none);
  const ArcVerdict verdict = verify(message);
  EXPECT_EQ(verdict.result, ArcChainResult::pass) << verdict.reason;
  EXPECT_EQ(verdict.instance, 1);
  EXPECT_EQ(verdict.sealer_domain, "relay.test");
  EXPECT_EQ(message.find("ARC-Seal: a=rsa-sha256;"), 0u);
  EXPECT_NE(message.find("cv=none; d=relay.test; i=1; s=arc; t=1700000000"), std::string::npos);
  EXPECT_NE(message.find("ARC-Authentication-Results: i=1; mx.relay.test; spf=pass"),
            std::string::npos);
}

TEST_F(ArcSealTest, Ed25519SealVerifiesAsPass) {
  const ArcSealer sealer = sealer_for("relay.test", DkimKeyRecord::KeyType::ed25519);
  const std::string message = sealed(sealer, kMessage, ArcChainResult::none);
  EXPECT_NE(message.find("ARC-Seal: a=ed25519-sha256;"), std::string::npos);
  const ArcVerdict verdict = verify(message);
  EXPECT_EQ(verdict.result, ArcChainResult::pass) << verdict.reason;
}

// The sealer reads the body a piece at a time: pieces of three octets seal what the whole
// body does.
TEST_F(ArcSealTest, BodyInPiecesSealsAsTheWholeBody) {
  const ArcSealer sealer = sealer_for("relay.test", DkimKeyRecord::KeyType::ed25519);
  const MessageContent whole = MessageContent::from_text(kMessage);
  const std::string body = whole.to_text().substr(whole.header.size());
  const MessageContent pieces =
      test_support::content_in_pieces(whole.header, body, test_support::every(3, body.size()));
  const auto fields = sealer.seal(pieces, "mx.relay.test", "spf=pass", ArcChainResult::none, kNow);
  ASSERT_TRUE(std::holds_alternative<std::string>(fields));
  EXPECT_EQ(std::get<std::string>(fields),
            std::get<std::string>(
                sealer.seal(whole, "mx.relay.test", "spf=pass", ArcChainResult::none, kNow)));
  EXPECT_EQ(verify(std::get<std::string>(fields) + kMessage).result, ArcChainResult::pass);
}

// RFC 8617 has no temperror: an unreadable body fails the chain, and the reason says why.
TEST_F(ArcSealTest, UnreadableBodyFailsAndSaysItIsTemporary) {
  const ArcSealer sealer = sealer_for("relay.test", DkimKeyRecord::KeyType::ed25519);
  const std::string message = sealed(sealer, kMessage, ArcChainResult::none);
  ArcVerdict verdict;
  verifier_.verify(MessageContent{MessageContent::from_text(message).header,
                                  std::make_shared<test_support::UnreadableBody>()},
                   [&](ArcVerdict result) { verdict = std::move(result); });
  EXPECT_EQ(verdict.result, ArcChainResult::fail);
  EXPECT_EQ(verdict.reason,
            "ARC-Message-Signature i=1: temporary: message body could not be read: piece 0 is "
            "missing");
}

TEST_F(ArcSealTest, BodyChangedAfterSealingFails) {
  const ArcSealer sealer = sealer_for("relay.test", DkimKeyRecord::KeyType::rsa);
  const ArcVerdict verdict =
      verify(changed(sealed(sealer, kMessage, ArcChainResult::none), "attached", "enclosed"));
  EXPECT_EQ(verdict.result, ArcChainResult::fail);
  EXPECT_NE(verdict.reason.find("body hash does not match"), std::string::npos) << verdict.reason;
}

TEST_F(ArcSealTest, SignedHeaderChangedAfterSealingFails) {
  const ArcSealer sealer = sealer_for("relay.test", DkimKeyRecord::KeyType::ed25519);
  const ArcVerdict verdict = verify(changed(sealed(sealer, kMessage, ArcChainResult::none),
                                            "Subject: Minutes", "Subject: [list] Minutes"));
  EXPECT_EQ(verdict.result, ArcChainResult::fail);
  EXPECT_NE(verdict.reason.find("ARC-Message-Signature i=1"), std::string::npos) << verdict.reason;
}

TEST_F(ArcSealTest, TwoSealersInARowPass) {
  const ArcSealer list = sealer_for("lists.test", DkimKeyRecord::KeyType::rsa);
  const ArcSealer forwarder = sealer_for("forward.test", DkimKeyRecord::KeyType::ed25519);
  const std::string first = sealed(list, kMessage, ArcChainResult::none);
  const ArcVerdict at_forwarder = verify(first);
  ASSERT_EQ(at_forwarder.result, ArcChainResult::pass) << at_forwarder.reason;

  const std::string second = sealed(forwarder, first, at_forwarder.result);
  const ArcVerdict verdict = verify(second);
  EXPECT_EQ(verdict.result, ArcChainResult::pass) << verdict.reason;
  EXPECT_EQ(verdict.instance, 2);
  EXPECT_EQ(verdict.sealer_domain, "forward.test");
}

TEST_F(ArcSealTest, ListChangingTheMessageStillPassesWhenItSealsAfterwards) {
  // RFC 8617 5.2 step 5: only the newest AMS is checked, so an intermediary that modifies
  // the message and then seals keeps the chain valid; the older AMS is allowed to break.
  const ArcSealer origin = sealer_for("origin.test", DkimKeyRecord::KeyType::ed25519);
  const ArcSealer list = sealer_for("lists.test", DkimKeyRecord::KeyType::ed25519);
  std::string message = sealed(origin, kMessage, ArcChainResult::none);
  const ArcVerdict at_list = verify(message);
  ASSERT_EQ(at_list.result, ArcChainResult::pass) << at_list.reason;
  const ArcVerdict verdict = verify(sealed(
      list, changed(message, "Subject: Minutes", "Subject: [list] Minutes"), at_list.result));
  EXPECT_EQ(verdict.result, ArcChainResult::pass) << verdict.reason;
}

TEST_F(ArcSealTest, FailedChainIsSealedWithCvFailAndEndsThere) {
  const ArcSealer first = sealer_for("one.test", DkimKeyRecord::KeyType::ed25519);
  const ArcSealer second = sealer_for("two.test", DkimKeyRecord::KeyType::ed25519);
  std::string message =
      changed(sealed(first, kMessage, ArcChainResult::none), "attached", "enclosed");
  const ArcVerdict at_second = verify(message);
  ASSERT_EQ(at_second.result, ArcChainResult::fail);

  message = sealed(second, message, at_second.result);
  EXPECT_NE(message.find("cv=fail; d=two.test; i=2"), std::string::npos);
  const ArcVerdict verdict = verify(message);
  EXPECT_EQ(verdict.result, ArcChainResult::fail);
  EXPECT_NE(verdict.reason.find("already says cv=fail"), std::string::npos) << verdict.reason;

  // RFC 8617 5.1.2: nobody adds to a chain once it is marked failed.
  const auto third = second.seal(MessageContent::from_text(message), "mx.two.test", "arc=fail",
                                 verdict.result, kNow);
  ASSERT_TRUE(std::holds_alternative<ArcSealError>(third));
  EXPECT_NE(std::get<ArcSealError>(third).reason.find("cv=fail"), std::string::npos);
}

TEST_F(ArcSealTest, FiftySetsPassAndAFiftyFirstIsRefused) {
  const ArcSealer sealer = sealer_for("relay.test", DkimKeyRecord::KeyType::ed25519);
  std::string message = kMessage;
  ArcChainResult chain = ArcChainResult::none;
  for (int i = 1; i <= kMaxArcInstance; ++i) {
    message = sealed(sealer, message, chain);
    chain = ArcChainResult::pass;
  }
  const ArcVerdict verdict = verify(message);
  EXPECT_EQ(verdict.result, ArcChainResult::pass) << verdict.reason;
  EXPECT_EQ(verdict.instance, 50);
  const auto refused = sealer.seal(MessageContent::from_text(message), "mx.relay.test", "arc=pass",
                                   verdict.result, kNow);
  ASSERT_TRUE(std::holds_alternative<ArcSealError>(refused));
  EXPECT_NE(std::get<ArcSealError>(refused).reason.find("50 ARC sets"), std::string::npos);
}

TEST_F(ArcSealTest, KeyLookupFailingTemporarilyFailsAndSaysSo) {
  const ArcSealer sealer = sealer_for("relay.test", DkimKeyRecord::KeyType::ed25519);
  const std::string message = sealed(sealer, kMessage, ArcChainResult::none);
  MemoryResolver broken;
  broken.fail("arc._domainkey.relay.test", DnsStatus::timeout);
  ArcVerifier verifier(broken, clock_);
  const ArcVerdict verdict = verify_arc_now(verifier, message);
  EXPECT_EQ(verdict.result, ArcChainResult::fail);
  EXPECT_NE(verdict.reason.find("temporary"), std::string::npos) << verdict.reason;
}

TEST_F(ArcSealTest, MessageWithoutFromIsNotSealed) {
  const ArcSealer sealer = sealer_for("relay.test", DkimKeyRecord::KeyType::ed25519);
  const auto refused = sealer.seal(MessageContent::from_text("To: b@b.test\r\n\r\nbody\r\n"),
                                   "mx.relay.test", "spf=none", ArcChainResult::none, kNow);
  ASSERT_TRUE(std::holds_alternative<ArcSealError>(refused));
  EXPECT_NE(std::get<ArcSealError>(refused).reason.find("From"), std::string::npos);
}

TEST_F(ArcSealTest, ChainStatusThatDoesNotFitTheMessageIsRefused) {
  const ArcSealer sealer = sealer_for("relay.test", DkimKeyRecord::KeyType::ed25519);
  const auto pass_without_sets = sealer.seal(MessageContent::from_text(kMessage), "mx.relay.test",
                                             "spf=pass", ArcChainResult::pass, kNow);
  EXPECT_TRUE(std::holds_alternative<ArcSealError>(pass_without_sets));
  const std::string once = sealed(sealer, kMessage, ArcChainResult::none);
  const auto none_with_sets = sealer.seal(MessageContent::from_text(once), "mx.relay.test",
                                          "spf=pass", ArcChainResult::none, kNow);
  EXPECT_TRUE(std::holds_alternative<ArcSealError>(none_with_sets));
}

TEST_F(ArcSealTest, ExplicitSignedHeadersBecomeTheAmsHList) {
  const DkimKeyPair pair = generate_dkim_key(DkimKeyRecord::KeyType::ed25519);
  zone_.add_txt("arc._domainkey.relay.test", {pair.key_record});
  auto loaded = ArcSealer::from_pem(pair.private_key_pem, "relay.test", "arc", {"From", "Subject"});
  ASSERT_TRUE(std::holds_alternative<ArcSealer>(loaded));
  const std::string message = sealed(std::get<ArcSealer>(loaded), kMessage, ArcChainResult::none);
  EXPECT_NE(message.find("h=from:subject;"), std::string::npos);
  EXPECT_EQ(verify(message).result, ArcChainResult::pass);
}

TEST(ArcSealerLoad, BadKeysAndSigningArcSealAreRefused) {
  EXPECT_TRUE(std::holds_alternative<ArcSealError>(ArcSealer::from_pem("junk", "e.test", "s")));
  EXPECT_TRUE(std::holds_alternative<ArcSealError>(
      ArcSealer::from_pem_file("/nonexistent/arc.pem", "e.test", "s")));
  const DkimKeyPair pair = generate_dkim_key(DkimKeyRecord::KeyType::ed25519);
  const auto refused =
      ArcSealer::from_pem(pair.private_key_pem, "e.test", "s", {"from", "ARC-Seal"});
  ASSERT_TRUE(std::holds_alternative<ArcSealError>(refused));
  EXPECT_NE(std::get<ArcSealError>(refused).reason.find("4.1.2"), std::string::npos);
}

}  // namespace
}  // namespace herald
