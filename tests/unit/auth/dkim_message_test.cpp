// DkimMessage: the body hashes that all signatures of a message share equal what the
// reference canonicalisation (dkim_canonical.h) gives, for both canonicalisations, both
// hashes and l= cuts, including the edges of RFC 6376 3.4.3/3.4.4 (every cut into pieces is
// in dkim_body_hash_test.cpp).
#include "auth/dkim_message.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "auth/dkim_canonical.h"
#include "auth/dkim_crypto.h"
#include "auth/piece_body.h"

namespace herald {
namespace {

// The reference: canonicalise into a string, cut at l=, hash.
std::optional<std::string> reference_hash(std::string_view body, const DkimBodyHashKey& key) {
  std::string canonical = canonicalize_body(body, key.canonicalization);
  if (key.length) {
    if (*key.length > canonical.size()) return std::nullopt;
    canonical.resize(*key.length);
  }
  return dkim_digest(
      key.digest == DkimBodyDigest::sha1 ? DkimAlgorithm::rsa_sha1 : DkimAlgorithm::rsa_sha256,
      canonical);
}

const std::vector<std::string> kBodies = {
    "",
    "\r\n",
    "\r\n\r\n\r\n",
    " \t\r\n\r\n",
    "abc",
    "abc  ",
    "abc\r\n",
    "abc\r\n\r\n\r\n",
    "abc\r\n \t \r\n\r\n",
    "\r\nabc",
    "  leading\tand  inner \t runs  \r\nsecond line\t\r\n",
    "bare\rCR and bare\nLF\r\n",
    "ends in CR\r",
    " \r\n \r\nafter blank lines\r\n \r\n",
};

TEST(DkimMessage, BodyHashesEqualTheReferenceCanonicalisation) {
  for (const std::string& body : kBodies) {
    const std::string text = "From: a@example.test\r\n\r\n" + body;
    for (const auto how : {DkimCanonicalization::simple, DkimCanonicalization::relaxed}) {
      for (const auto digest : {DkimBodyDigest::sha1, DkimBodyDigest::sha256}) {
        std::vector<DkimBodyHashKey> keys{{how, digest, std::nullopt}};
        for (uint64_t length : {0, 1, 2, 3, 5, 8, 20, 40, 60})
          keys.push_back({how, digest, length});
        // Declared together (one pass) and asked for one at a time: the same hashes.
        const DkimMessage together(MessageContent::from_text(text));
        for (const auto& key : keys) together.declare(key);
        for (const auto& key : keys) {
          const DkimMessage alone(MessageContent::from_text(text));
          EXPECT_EQ(together.body_hash(key), reference_hash(body, key))
              << "body '" << body << "' l=" << key.length.value_or(-1);
          EXPECT_EQ(alone.body_hash(key), reference_hash(body, key));
        }
      }
    }
  }
}

// Built from a content that goes away at once: the message keeps the header and its share of
// the body, and reads the body in its pieces.
TEST(DkimMessage, KeepsItsOwnCopyOfTheContentAndReadsTheBodyInPieces) {
  const std::string body = " a \r\n\r\nb\t \r\n \r\n\r\n";
  const DkimMessage message(
      test_support::content_in_pieces("From: a@example.test\r\nTo: b@example.test\r\n\r\n", body,
                                      test_support::every(1, body.size())));
  ASSERT_EQ(message.headers().size(), 2u);
  EXPECT_EQ(message.headers()[1].raw, "To: b@example.test\r\n");
  for (const auto how : {DkimCanonicalization::simple, DkimCanonicalization::relaxed}) {
    const DkimBodyHashKey key{how, DkimBodyDigest::sha256, std::nullopt};
    EXPECT_EQ(message.body_hash(key), reference_hash(body, key));
  }
}

TEST(DkimMessage, UnreadableBodyThrowsEachTimeItIsAskedFor) {
  const DkimMessage message(MessageContent{"From: a@example.test\r\n\r\n",
                                           std::make_shared<test_support::UnreadableBody>()});
  const DkimBodyHashKey key{DkimCanonicalization::relaxed, DkimBodyDigest::sha256, {}};
  message.declare(key);
  EXPECT_THROW(message.compute_declared(), ContentReadError);
  EXPECT_THROW(message.body_hash(key), ContentReadError);
}

TEST(DkimMessage, LengthBeyondTheCanonicalBodyHasNoHash) {
  const DkimMessage message(MessageContent::from_text("From: a@example.test\r\n\r\nabc  \r\n\r\n"));
  // Relaxed: "abc\r\n" (5 octets).
  EXPECT_TRUE(message.body_hash({DkimCanonicalization::relaxed, DkimBodyDigest::sha256, 5}));
  EXPECT_FALSE(message.body_hash({DkimCanonicalization::relaxed, DkimBodyDigest::sha256, 6}));
  // Simple: "abc  \r\n" (7 octets).
  EXPECT_TRUE(message.body_hash({DkimCanonicalization::simple, DkimBodyDigest::sha256, 7}));
  EXPECT_FALSE(message.body_hash({DkimCanonicalization::simple, DkimBodyDigest::sha256, 8}));
}

// A body larger than the sink's buffer, with lines of runs of spaces, hashed from several
// threads at once: every thread gets the reference hash.
TEST(DkimMessage, LargeBodyFromSeveralThreads) {
  std::string body;
  while (body.size() < 300 * 1024) body += "word  \t word" + std::string(70, 'x') + "   \r\n";
  body += "\r\n\r\n";
  const DkimMessage message(MessageContent::from_text("From: a@example.test\r\n\r\n" + body));
  const DkimBodyHashKey relaxed{DkimCanonicalization::relaxed, DkimBodyDigest::sha256, {}};
  const DkimBodyHashKey cut{DkimCanonicalization::relaxed, DkimBodyDigest::sha256, 100000};
  const DkimBodyHashKey simple{DkimCanonicalization::simple, DkimBodyDigest::sha256, {}};
  message.declare(relaxed);
  message.declare(cut);
  std::vector<std::optional<std::string>> got(6);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < got.size(); ++i) {
    threads.emplace_back([&, i] {
      got[i] = message.body_hash(i % 3 == 0 ? relaxed : i % 3 == 1 ? cut : simple);
    });
  }
  for (auto& thread : threads) thread.join();
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i], reference_hash(body, i % 3 == 0 ? relaxed : i % 3 == 1 ? cut : simple));
  }
}

}  // namespace
}  // namespace herald
