#include "auth/srs.h"

#include <gtest/gtest.h>

#include <regex>

namespace herald {
namespace {

using namespace std::chrono_literals;

// 2026-11-29 12:00 UTC: day 20786 since the epoch, slot 306 of 1024, "JS" in base32.
const TimePoint kNoon{std::chrono::seconds(1795953600)};
constexpr auto kDay = std::chrono::hours(24);

SenderRewriting srs(std::vector<std::string> previous = {}) {
  return SenderRewriting("srs.example.test", "s3cret", std::move(previous), 21 * kDay);
}

TEST(Srs, ForwardRewritesToSrs0WithHashStampDomainAndLocalPart) {
  const SrsForward f = srs().forward("someone@sender.test", kNoon);
  EXPECT_TRUE(f.rewritten);
  EXPECT_TRUE(f.kept_because.empty());
  // The hash is HMAC-SHA256("s3cret", "jssender.testsomeone") in base32, first 8 characters,
  // as computed by Python's hmac and base64 modules.
  EXPECT_EQ(f.return_path, "SRS0=6WHZMHTT=JS=sender.test=someone@srs.example.test");
}

TEST(Srs, RoundTripGivesTheOriginalSender) {
  const SenderRewriting s = srs();
  const SrsForward f = s.forward("Some.One@Sender.Test", kNoon);
  ASSERT_TRUE(s.claims(f.return_path));
  const SrsReverse r = s.reverse(f.return_path, kNoon + 3 * kDay);
  EXPECT_EQ(r.verdict, SrsReverse::Verdict::valid);
  EXPECT_EQ(r.original, "Some.One@sender.test");
}

TEST(Srs, HashIsComparedIgnoringCase) {
  const SenderRewriting s = srs();
  std::string address = s.forward("someone@sender.test", kNoon).return_path;
  for (char& c : address) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const SrsReverse r = s.reverse(address, kNoon);
  EXPECT_EQ(r.verdict, SrsReverse::Verdict::valid);
  EXPECT_EQ(r.original, "someone@sender.test");
}

TEST(Srs, TamperedHashDomainOrLocalPartIsRefused) {
  const SenderRewriting s = srs();
  const std::string good = s.forward("someone@sender.test", kNoon).return_path;
  ASSERT_EQ(good.substr(0, 5), "SRS0=");
  std::string hash = good;
  hash[5] = hash[5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(s.reverse(hash, kNoon).verdict, SrsReverse::Verdict::bad_hash);
  const std::string domain =
      std::regex_replace(good, std::regex("=sender\\.test="), "=attacker.test=");
  ASSERT_NE(domain, good);
  EXPECT_EQ(s.reverse(domain, kNoon).verdict, SrsReverse::Verdict::bad_hash);
  const std::string local = std::regex_replace(good, std::regex("=someone@"), "=victim@");
  ASSERT_NE(local, good);
  EXPECT_EQ(s.reverse(local, kNoon).verdict, SrsReverse::Verdict::bad_hash);
  const std::string stamp = std::regex_replace(good, std::regex("=JS="), "=JT=");
  ASSERT_NE(stamp, good);
  EXPECT_EQ(s.reverse(stamp, kNoon).verdict, SrsReverse::Verdict::bad_hash);
}

TEST(Srs, AnotherSecretDoesNotVerify) {
  const SenderRewriting other("srs.example.test", "other", {}, 21 * kDay);
  const std::string address = other.forward("someone@sender.test", kNoon).return_path;
  EXPECT_EQ(srs().reverse(address, kNoon).verdict, SrsReverse::Verdict::bad_hash);
}

TEST(Srs, PreviousSecretsVerifyButDoNotSign) {
  const SenderRewriting before("srs.example.test", "old", {}, 21 * kDay);
  const std::string old_address = before.forward("someone@sender.test", kNoon).return_path;
  const SenderRewriting after = srs({"old"});
  EXPECT_EQ(after.reverse(old_address, kNoon).verdict, SrsReverse::Verdict::valid);
  EXPECT_NE(after.forward("someone@sender.test", kNoon).return_path, old_address);
}

TEST(Srs, AddressOlderThanMaxAgeIsExpired) {
  const SenderRewriting s = srs();
  const std::string address = s.forward("someone@sender.test", kNoon).return_path;
  EXPECT_EQ(s.reverse(address, kNoon + 21 * kDay).verdict, SrsReverse::Verdict::valid);
  EXPECT_EQ(s.reverse(address, kNoon + 22 * kDay).verdict, SrsReverse::Verdict::expired);
  // The stamp counts days modulo 1024: a day before it reads as 1023 days old.
  EXPECT_EQ(s.reverse(address, kNoon - kDay).verdict, SrsReverse::Verdict::expired);
}

TEST(Srs, NullReversePathIsNeverRewritten) {
  const SrsForward f = srs().forward("", kNoon);
  EXPECT_FALSE(f.rewritten);
  EXPECT_EQ(f.return_path, "");
  EXPECT_TRUE(f.kept_because.empty());
}

TEST(Srs, SenderAlreadyInTheSrsDomainIsKept) {
  const SrsForward f = srs().forward("SRS0=abcd=JS=a.test=b@SRS.example.test", kNoon);
  EXPECT_FALSE(f.rewritten);
  EXPECT_EQ(f.return_path, "SRS0=abcd=JS=a.test=b@SRS.example.test");
}

TEST(Srs, LocalPartOver64OctetsIsNotProducedAndSaysWhy) {
  const std::string sender = std::string(50, 'x') + "@sender.test";
  const SrsForward f = srs().forward(sender, kNoon);
  EXPECT_FALSE(f.rewritten);
  EXPECT_EQ(f.return_path, sender);
  EXPECT_NE(f.kept_because.find("64"), std::string::npos) << f.kept_because;
}

TEST(Srs, Srs0OfAnotherForwarderBecomesSrs1ThatLeadsBackThroughIt) {
  const SenderRewriting s = srs();
  const SrsForward f = s.forward("SRS0=HHHH=TT=orig.test=user@forwarder.test", kNoon);
  ASSERT_TRUE(f.rewritten);
  // HMAC-SHA256("s3cret", "forwarder.test=hhhh=tt=orig.test=user"), as Python computes it.
  EXPECT_EQ(f.return_path, "SRS1=MGTQFEOP=forwarder.test==HHHH=TT=orig.test=user@srs.example.test");
  const SrsReverse r = s.reverse(f.return_path, kNoon + 500 * kDay);
  EXPECT_EQ(r.verdict, SrsReverse::Verdict::valid);
  EXPECT_EQ(r.original, "SRS0=HHHH=TT=orig.test=user@forwarder.test");
}

TEST(Srs, Srs1OfAnotherForwarderKeepsTheFirstForwarderAndIsSignedAgain) {
  const SenderRewriting s = srs();
  const SrsForward f =
      s.forward("SRS1=XXXX=forwarder.test==HHHH=TT=orig.test=user@second.test", kNoon);
  ASSERT_TRUE(f.rewritten);
  EXPECT_EQ(f.return_path, "SRS1=MGTQFEOP=forwarder.test==HHHH=TT=orig.test=user@srs.example.test");
}

TEST(Srs, TheOldFourCharacterHashIsNoLongerAccepted) {
  // HMAC-SHA1 in 4 base64 characters, what herald wrote before: about 21 bits once case is
  // ignored, so it is refused like any other unsigned address.
  EXPECT_EQ(srs().reverse("SRS0=8zoU=JS=sender.test=someone@srs.example.test", kNoon).verdict,
            SrsReverse::Verdict::bad_hash);
}

TEST(Srs, TamperedSrs1IsRefused) {
  const SenderRewriting s = srs();
  EXPECT_EQ(s.reverse("SRS1=MGTQFEOP=attacker.test==HHHH=TT=orig.test=user@srs.example.test", kNoon)
                .verdict,
            SrsReverse::Verdict::bad_hash);
}

TEST(Srs, ClaimsOnlySrsLocalPartsInItsDomain) {
  const SenderRewriting s = srs();
  EXPECT_TRUE(s.claims("SRS0=x@srs.example.test"));
  EXPECT_TRUE(s.claims("srs1+x@SRS.Example.Test"));
  EXPECT_FALSE(s.claims("SRS0=x@other.test"));
  EXPECT_FALSE(s.claims("postmaster@srs.example.test"));
  EXPECT_FALSE(s.claims("SRS2=x@srs.example.test"));
}

TEST(Srs, MalformedAddressesAreNotDecoded) {
  const SenderRewriting s = srs();
  for (const char* address :
       {"SRS0=x@srs.example.test", "SRS0=abcd=JS=sender.test@srs.example.test",
        "SRS0=abcd=J=sender.test=someone@srs.example.test",
        "SRS0=abcd=J1=sender.test=someone@srs.example.test", "SRS1=abcd=host@srs.example.test",
        "someone@srs.example.test"}) {
    EXPECT_EQ(s.reverse(address, kNoon).verdict, SrsReverse::Verdict::malformed) << address;
  }
}

}  // namespace
}  // namespace herald
