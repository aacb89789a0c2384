// The streamed body hash (dkim_body_hash.h) equals the hash of the reference canonical form
// (canonicalize_body) for simple and relaxed, with and without l=, however the body is cut
// into pieces: every 1, 2 and 3 octets, and at random, with CRLFs, runs of WSP and the empty
// lines at the end falling across pieces.
#include "auth/dkim_body_hash.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "auth/dkim_canonical.h"
#include "auth/dkim_crypto.h"
#include "auth/piece_body.h"

namespace herald {
namespace {

using test_support::every;
using test_support::PieceBody;
using test_support::random_cuts;

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
    "\r\n\r\n",
    "\r\n\r\n\r\n",
    " \t\r\n\r\n",
    "   \t\t   ",
    "abc",
    "abc  ",
    "abc\r\n",
    "abc \r\n",
    "abc\t\r\n\r\n",
    "abc\r\n\r\n\r\n",
    "abc\r\n \t \r\n\r\n",
    "abc\r\n \t \r\n\r\n  ",
    "\r\nabc",
    " \r\n \r\nafter blank lines\r\n \r\n",
    "a\r\n\r\n \r\nb\r\n\r\n",
    "  leading\tand  inner \t runs  \r\nsecond line\t\r\n",
    "x" + std::string(300, ' ') + "y\r\n" + std::string(200, '\t') + "\r\n" + std::string(100, ' '),
    "bare\rCR and bare\nLF\r\n",
    "ends in CR\r",
    "ends in CR after CRLF\r\n\r",
    "\r",
    "\r\r",
    "\r\r\n\r\n",
    "\n\r\n",
    "\n",
    "a \r \r\n",
    "a\r \r\n\r\n",
    "CR before blank lines\r\r\n\r\n\r\n",
};

std::vector<DkimBodyHashKey> keys_for(const std::string& body) {
  std::vector<DkimBodyHashKey> keys;
  for (const auto how : {DkimCanonicalization::simple, DkimCanonicalization::relaxed}) {
    const uint64_t canonical = canonicalize_body(body, how).size();
    keys.push_back({how, DkimBodyDigest::sha256, std::nullopt});
    keys.push_back({how, DkimBodyDigest::sha1, std::nullopt});
    for (uint64_t length : {uint64_t{0}, uint64_t{1}, uint64_t{2}, uint64_t{5}, uint64_t{40},
                            canonical > 0 ? canonical - 1 : 0, canonical, canonical + 1})
      keys.push_back({how, DkimBodyDigest::sha256, length});
  }
  return keys;
}

void expect_every_key_matches(const std::string& body, const std::vector<size_t>& cuts,
                              const std::string& how_cut) {
  const PieceBody pieces(body, cuts);
  for (const DkimBodyHashKey& key : keys_for(body)) {
    EXPECT_EQ(dkim_body_hash(pieces, key), reference_hash(body, key))
        << "body '" << body << "' cut " << how_cut << ", "
        << (key.canonicalization == DkimCanonicalization::simple ? "simple" : "relaxed")
        << " l=" << (key.length ? std::to_string(*key.length) : "none");
  }
}

TEST(DkimBodyHash, EveryCutIntoOneTwoAndThreeOctetPiecesGivesTheReferenceHash) {
  for (const std::string& body : kBodies) {
    expect_every_key_matches(body, {}, "not at all");
    for (size_t step : {1, 2, 3})
      expect_every_key_matches(body, every(step, body.size()), "every " + std::to_string(step));
  }
}

TEST(DkimBodyHash, RandomCutsWithEmptyPiecesGiveTheReferenceHash) {
  for (const std::string& body : kBodies) {
    for (unsigned seed = 1; seed <= 20; ++seed)
      expect_every_key_matches(body, random_cuts(seed, body.size(), 4),
                               "at random, seed " + std::to_string(seed));
  }
}

// Every cut of a short body at one point and at two: each CRLF, WSP run and trailing blank
// line is split at each of its octets.
TEST(DkimBodyHash, EveryOneAndTwoPointCutGivesTheReferenceHash) {
  const std::string body = "a \t\r\n\r\n  b\r\r\n \r\n\r\n";
  for (size_t first = 0; first <= body.size(); ++first) {
    expect_every_key_matches(body, {first}, "at " + std::to_string(first));
    for (size_t second = first; second <= body.size(); ++second)
      expect_every_key_matches(body, {first, second},
                               "at " + std::to_string(first) + " and " + std::to_string(second));
  }
}

// Larger than the hasher's buffer and than a store piece, with WSP runs and blank lines
// throughout, in pieces of up to 100 KiB.
TEST(DkimBodyHash, LargeBodyInLargePiecesGivesTheReferenceHash) {
  std::string body;
  while (body.size() < 600 * 1024)
    body += "word  \t word" + std::string(70, 'x') + "   \r\n \t\r\n\r\n" + std::string(500, ' ');
  body += "\r\n\r\n\r\n";
  for (unsigned seed = 1; seed <= 3; ++seed) {
    const PieceBody pieces(body, random_cuts(seed, body.size(), 100 * 1024));
    for (const auto how : {DkimCanonicalization::simple, DkimCanonicalization::relaxed}) {
      for (const std::optional<uint64_t> length :
           {std::optional<uint64_t>(), std::optional<uint64_t>(300000)}) {
        const DkimBodyHashKey key{how, DkimBodyDigest::sha256, length};
        EXPECT_EQ(dkim_body_hash(pieces, key), reference_hash(body, key)) << "seed " << seed;
      }
    }
  }
}

// Several keys of one canonicalisation in one pass: each gets its own hash, cut at its own l=.
TEST(DkimBodyHash, OnePassComputesEveryKeyAdded) {
  const std::string body = "abc  \r\n d\r\n\r\n";
  DkimBodyHasher hasher(DkimCanonicalization::relaxed);
  const std::vector<DkimBodyHashKey> keys = {
      {DkimCanonicalization::relaxed, DkimBodyDigest::sha256, std::nullopt},
      {DkimCanonicalization::relaxed, DkimBodyDigest::sha1, std::nullopt},
      {DkimCanonicalization::relaxed, DkimBodyDigest::sha256, 4},
      {DkimCanonicalization::relaxed, DkimBodyDigest::sha256, 100}};
  for (const auto& key : keys) hasher.add(key);
  for (size_t i = 0; i < body.size(); ++i) hasher.update(body.substr(i, 1));
  const auto hashes = hasher.finish();
  ASSERT_EQ(hashes.size(), keys.size());
  for (const auto& key : keys) EXPECT_EQ(hashes.at(key), reference_hash(body, key));
  EXPECT_FALSE(hashes.at(keys[3]));  // l= beyond the 9 canonical octets
}

TEST(DkimBodyHash, UnreadablePieceIsAContentReadError) {
  const test_support::UnreadableBody body;
  EXPECT_THROW(dkim_body_hash(body, {DkimCanonicalization::relaxed, DkimBodyDigest::sha256, {}}),
               ContentReadError);
}

}  // namespace
}  // namespace herald
