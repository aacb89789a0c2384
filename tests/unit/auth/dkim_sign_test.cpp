#include "auth/dkim_sign.h"

#include <gtest/gtest.h>

#include <fstream>

#include "auth/dkim_keygen.h"
#include "auth/dkim_test_support.h"
#include "auth/piece_body.h"
#include "dns/memory_resolver.h"
#include "support/temp_dir.h"

namespace herald {
namespace {

using test_support::conformance_path;
using test_support::read_file;
using test_support::read_message;
using test_support::record_text;
using test_support::run_python;
using test_support::verify_now;
using test_support::write;

const TimePoint kNow = TimePoint(std::chrono::seconds(1700000000));

DkimSigner signer_from(const std::string& pem, const std::string& domain,
                       const std::string& selector) {
  auto loaded = DkimSigner::from_pem(pem, domain, selector);
  if (auto* error = std::get_if<DkimSignError>(&loaded)) {
    ADD_FAILURE() << error->reason;
    std::abort();
  }
  return std::get<DkimSigner>(std::move(loaded));
}

std::string sign(const DkimSigner& signer, const std::string& message) {
  auto signed_field = signer.sign(MessageContent::from_text(message), kNow);
  if (auto* error = std::get_if<DkimSignError>(&signed_field)) {
    ADD_FAILURE() << error->reason;
    return {};
  }
  return std::get<std::string>(signed_field) + message;
}

// dkimpy (python3-dkim) with a DNS function that answers one record for any name.
constexpr std::string_view kDkimpyVerify = R"(import sys, dkim
message = open(sys.argv[1], 'rb').read()
record = open(sys.argv[2], 'rb').read()
print(dkim.verify(message, dnsfunc=lambda name, timeout=5: record), end='')
)";
constexpr std::string_view kDkimpySign = R"(import sys, dkim
message = open(sys.argv[1], 'rb').read()
key = open(sys.argv[2], 'rb').read()
algorithm = sys.argv[5].encode()
field = dkim.sign(message, sys.argv[3].encode(), sys.argv[4].encode(), key,
                  canonicalize=(b'relaxed', b'relaxed'), signature_algorithm=algorithm,
                  include_headers=[b'from', b'to', b'subject'])
sys.stdout.buffer.write(field + message)
)";

class DkimSignTest : public ::testing::Test {
 protected:
  std::string message_ = read_message("dkim-dkimpy/test.message");
  std::string rsa_pem_ = read_file(conformance_path("dkim-dkimpy/test.private"));
  std::string rsa_record_ = record_text(read_file(conformance_path("dkim-dkimpy/test.txt")));
  MemoryResolver dns_;
  ManualClock clock_{kNow};
  DkimVerifier verifier_{dns_, clock_};
  test_support::TempDir dir_;
};

TEST_F(DkimSignTest, RsaAndEd25519SignaturesOfOneMessageBothVerify) {
  const DkimKeyPair ed25519 = generate_dkim_key(DkimKeyRecord::KeyType::ed25519);
  dns_.add_txt("rsa._domainkey.example.com", {rsa_record_});
  dns_.add_txt("ed._domainkey.example.com", {ed25519.key_record});
  const std::string once = sign(signer_from(rsa_pem_, "example.com", "rsa"), message_);
  const std::string twice = sign(signer_from(ed25519.private_key_pem, "example.com", "ed"), once);
  const auto verdicts = verify_now(verifier_, twice);
  ASSERT_EQ(verdicts.size(), 2u);
  EXPECT_EQ(verdicts[0].algorithm, DkimAlgorithm::ed25519_sha256);
  EXPECT_EQ(verdicts[0].result, DkimResult::pass) << verdicts[0].reason;
  EXPECT_EQ(verdicts[1].algorithm, DkimAlgorithm::rsa_sha256);
  EXPECT_EQ(verdicts[1].result, DkimResult::pass) << verdicts[1].reason;
}

TEST_F(DkimSignTest, ChangedBodyOrAddedFromFailsVerification) {
  dns_.add_txt("rsa._domainkey.example.com", {rsa_record_});
  const std::string signed_message = sign(signer_from(rsa_pem_, "example.com", "rsa"), message_);
  auto verdicts = verify_now(verifier_, signed_message + "extra line\r\n");
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].result, DkimResult::fail);
  EXPECT_EQ(verdicts[0].reason, "body hash does not match");
  // RFC 6376 8.15: From is signed once more than present, so a second From breaks it.
  verdicts = verify_now(verifier_, "From: mallory@evil.example\r\n" + signed_message);
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].result, DkimResult::fail);
}

// The signer reads the body a piece at a time: pieces of one octet sign what the whole body
// does, and the signature verifies.
TEST_F(DkimSignTest, BodyInPiecesSignsAndVerifiesAsTheWholeBody) {
  dns_.add_txt("rsa._domainkey.example.com", {rsa_record_});
  const DkimSigner signer = signer_from(rsa_pem_, "example.com", "rsa");
  const MessageContent whole = MessageContent::from_text(message_);
  const std::string body = whole.to_text().substr(whole.header.size());
  const MessageContent pieces =
      test_support::content_in_pieces(whole.header, body, test_support::every(1, body.size()));
  const std::string field = std::get<std::string>(signer.sign(pieces, kNow));
  EXPECT_EQ(field, std::get<std::string>(signer.sign(whole, kNow)));
  const auto verdicts = verify_now(verifier_, field + message_);
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].result, DkimResult::pass) << verdicts[0].reason;
}

// A body piece that cannot be read (a store error) is temporary: the signature may be fine.
TEST_F(DkimSignTest, UnreadableBodyIsTemperrorAndSigningItThrows) {
  dns_.add_txt("rsa._domainkey.example.com", {rsa_record_});
  const DkimSigner signer = signer_from(rsa_pem_, "example.com", "rsa");
  const MessageContent unreadable{MessageContent::from_text(message_).header,
                                  std::make_shared<test_support::UnreadableBody>()};
  EXPECT_THROW(signer.sign(unreadable, kNow), ContentReadError);
  const std::string signed_message = sign(signer, message_);
  std::vector<DkimVerdict> verdicts;
  verifier_.verify(MessageContent{MessageContent::from_text(signed_message).header,
                                  std::make_shared<test_support::UnreadableBody>()},
                   [&](std::vector<DkimVerdict> result) { verdicts = std::move(result); });
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].result, DkimResult::temperror);
  EXPECT_EQ(verdicts[0].reason, "message body could not be read: piece 0 is missing");
}

TEST_F(DkimSignTest, SignatureNamesTheKeyAndOversignsFrom) {
  const std::string folded = std::get<std::string>(
      signer_from(rsa_pem_, "Example.COM", "Sel").sign(MessageContent::from_text(message_), kNow));
  EXPECT_TRUE(folded.ends_with("\r\n"));
  std::string field;  // unfolded (RFC 5322 2.2.3) to compare
  for (size_t i = 0; i < folded.size(); ++i)
    if (folded.compare(i, 2, "\r\n") == 0)
      ++i;
    else
      field += folded[i];
  EXPECT_TRUE(
      field.starts_with("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; "
                        "d=example.com; s=sel; t=1700000000; h=from:"))
      << field;
  EXPECT_NE(field.find("h=from:from:"), std::string::npos) << field;
}

TEST_F(DkimSignTest, MessageWithoutFromIsNotSigned) {
  const auto result =
      signer_from(rsa_pem_, "example.com", "rsa")
          .sign(MessageContent::from_text(read_message("dkim-dkimpy/test_nofrom.message")), kNow);
  ASSERT_TRUE(std::holds_alternative<DkimSignError>(result));
  EXPECT_EQ(std::get<DkimSignError>(result).reason, "the message has no From field");
}

TEST_F(DkimSignTest, KeysThatAreNotUsableAreRefusedAtLoad) {
  EXPECT_TRUE(std::holds_alternative<DkimSignError>(DkimSigner::from_pem("junk", "e.com", "s")));
  EXPECT_TRUE(std::holds_alternative<DkimSignError>(
      DkimSigner::from_pem_file(dir_.path() / "missing.pem", "e.com", "s")));
}

TEST_F(DkimSignTest, GeneratedRsaKeyIs2048BitsAndItsRecordVerifies) {
  const DkimKeyPair pair = generate_dkim_key(DkimKeyRecord::KeyType::rsa);
  EXPECT_TRUE(pair.key_record.starts_with("v=DKIM1; k=rsa; p=MIIBIjAN")) << pair.key_record;
  dns_.add_txt("new._domainkey.example.com", {pair.key_record});
  const auto verdicts = verify_now(
      verifier_, sign(signer_from(pair.private_key_pem, "example.com", "new"), message_));
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].result, DkimResult::pass) << verdicts[0].reason;
}

TEST_F(DkimSignTest, ZoneLineSplitsLongRecordsInto255ByteStrings) {
  const std::string record(300, 'a');
  EXPECT_EQ(dkim_zone_line("example.com", "s1", record), "s1._domainkey.example.com IN TXT \"" +
                                                             record.substr(0, 255) + "\" \"" +
                                                             record.substr(255) + "\"");
}

TEST_F(DkimSignTest, HasSignedKnowsItsOwnDomainAndSelectorOnly) {
  const DkimSigner rsa = signer_from(rsa_pem_, "example.com", "rsa");
  const std::string signed_message = sign(rsa, message_);
  EXPECT_FALSE(rsa.has_signed(MessageContent::from_text(message_).header));
  EXPECT_TRUE(rsa.has_signed(MessageContent::from_text(signed_message).header));
  EXPECT_FALSE(signer_from(rsa_pem_, "example.com", "other")
                   .has_signed(MessageContent::from_text(signed_message).header));
  EXPECT_FALSE(signer_from(rsa_pem_, "example.org", "rsa")
                   .has_signed(MessageContent::from_text(signed_message).header));
}

TEST_F(DkimSignTest, HeraldSignaturesVerifyWithDkimpy) {
  write(dir_.path() / "verify.py", std::string(kDkimpyVerify));
  const DkimKeyPair rsa = generate_dkim_key(DkimKeyRecord::KeyType::rsa);
  const DkimKeyPair ed25519 = generate_dkim_key(DkimKeyRecord::KeyType::ed25519);
  int passed = 0;
  for (const DkimKeyPair* pair : {&rsa, &ed25519}) {
    write(dir_.path() / "message",
          sign(signer_from(pair->private_key_pem, "example.com", "s"), message_));
    write(dir_.path() / "record", pair->key_record);
    const std::string verdict =
        run_python((dir_.path() / "verify.py").string() + " " + (dir_.path() / "message").string() +
                   " " + (dir_.path() / "record").string());
    EXPECT_EQ(verdict, "True") << pair->key_record;
    if (verdict == "True") ++passed;
  }
  std::cout << "[ dkimpy interop ] herald-signed, dkimpy-verified: " << passed << " of 2\n";
}

TEST_F(DkimSignTest, DkimpySignaturesVerifyInHerald) {
  clock_.set(SystemClock().now());  // dkimpy stamps t= with the real time
  write(dir_.path() / "sign.py", std::string(kDkimpySign));
  write(dir_.path() / "message", message_);
  dns_.add_txt("test._domainkey.example.com", {rsa_record_});
  dns_.add_txt("brisbane._domainkey.example.com",
               {"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="});
  const struct {
    const char* key;
    const char* selector;
    const char* algorithm;
  } cases[] = {{"test.private", "test", "rsa-sha256"},
               {"rfc8032_7_1.key", "brisbane", "ed25519-sha256"}};
  int passed = 0;
  for (const auto& c : cases) {
    const std::string signed_message =
        run_python((dir_.path() / "sign.py").string() + " " + (dir_.path() / "message").string() +
                   " " + conformance_path(std::string("dkim-dkimpy/") + c.key) + " " + c.selector +
                   " example.com " + c.algorithm);
    const auto verdicts = verify_now(verifier_, signed_message);
    ASSERT_EQ(verdicts.size(), 1u) << signed_message;
    EXPECT_EQ(verdicts[0].result, DkimResult::pass) << c.algorithm << ": " << verdicts[0].reason;
    if (verdicts[0].result == DkimResult::pass) ++passed;
  }
  std::cout << "[ dkimpy interop ] dkimpy-signed, herald-verified: " << passed << " of 2\n";
}

}  // namespace
}  // namespace herald
