#include "auth/dkim_signing_table.h"

#include <gtest/gtest.h>

#include <fstream>

#include "auth/dkim_keygen.h"
#include "support/temp_dir.h"

namespace herald {
namespace {

// One key of each type for the whole suite: an RSA key takes a while to make.
const DkimKeyPair& rsa_key() {
  static const DkimKeyPair key = generate_dkim_key(DkimKeyRecord::KeyType::rsa);
  return key;
}
const DkimKeyPair& ed25519_key() {
  static const DkimKeyPair key = generate_dkim_key(DkimKeyRecord::KeyType::ed25519);
  return key;
}

class DkimSigningTableTest : public ::testing::Test {
 protected:
  // A [[dkim]] entry whose key file holds `pem`.
  DkimConfig entry(const std::string& domain, const std::string& selector, const std::string& pem) {
    const std::filesystem::path file = dir_.path() / (domain + "-" + selector + ".pem");
    std::ofstream(file, std::ios::binary) << pem;
    return DkimConfig{domain, selector, file};
  }

  // "d/s" of each signer for `from_domain`, in order.
  static std::vector<std::string> keys_for(const DkimSigningTable& table,
                                           const std::string& from_domain) {
    std::vector<std::string> names;
    for (const DkimSigner& signer : table.signers_for(from_domain))
      names.push_back(signer.domain() + "/" + signer.selector());
    return names;
  }

  test_support::TempDir dir_;
};

TEST_F(DkimSigningTableTest, EntriesOfOneDomainAllSignInConfigOrder) {
  const DkimSigningTable table({entry("Example.test", "rsa", rsa_key().private_key_pem),
                                entry("example.test", "ed", ed25519_key().private_key_pem)});
  const auto signers = table.signers_for("EXAMPLE.test");
  ASSERT_EQ(signers.size(), 2u);
  EXPECT_EQ(signers[0].algorithm(), DkimAlgorithm::rsa_sha256);
  EXPECT_EQ(signers[1].algorithm(), DkimAlgorithm::ed25519_sha256);
  EXPECT_EQ(keys_for(table, "example.test."),
            (std::vector<std::string>{"example.test/rsa", "example.test/ed"}));
}

TEST_F(DkimSigningTableTest, SubdomainWithoutEntriesUsesTheNearestParentThatHasThem) {
  const DkimSigningTable table({entry("example.test", "s1", ed25519_key().private_key_pem),
                                entry("sub.example.test", "s2", ed25519_key().private_key_pem)});
  EXPECT_EQ(keys_for(table, "mx.example.test"), std::vector<std::string>{"example.test/s1"});
  EXPECT_EQ(keys_for(table, "a.b.sub.example.test"),
            std::vector<std::string>{"sub.example.test/s2"});
  EXPECT_EQ(keys_for(table, "sub.example.test"), std::vector<std::string>{"sub.example.test/s2"});
}

TEST_F(DkimSigningTableTest, UnrelatedDomainsAndParentsAboveTheOrganizationalDomainHaveNone) {
  const DkimSigningTable table({entry("example.test", "s1", ed25519_key().private_key_pem),
                                entry("co.uk", "s1", ed25519_key().private_key_pem)});
  EXPECT_TRUE(keys_for(table, "other.test").empty());
  EXPECT_TRUE(keys_for(table, "notexample.test").empty());
  // co.uk is a public suffix: example.co.uk's organizational domain is itself, and a key of
  // co.uk would not align with it under DMARC.
  EXPECT_TRUE(keys_for(table, "mail.example.co.uk").empty());
  EXPECT_EQ(keys_for(table, "co.uk"), std::vector<std::string>{"co.uk/s1"});
}

TEST_F(DkimSigningTableTest, NoEntriesMakeAnEmptyTable) {
  const DkimSigningTable table({});
  EXPECT_TRUE(table.empty());
  EXPECT_TRUE(keys_for(table, "example.test").empty());
}

TEST_F(DkimSigningTableTest, AnEntryWhoseKeyCannotBeUsedStopsTheLoadNamingIt) {
  const DkimConfig good = entry("example.test", "ed", ed25519_key().private_key_pem);
  const DkimConfig missing{"example.test", "gone", dir_.path() / "missing.pem"};
  try {
    DkimSigningTable table({good, missing});
    FAIL() << "a missing key file was accepted";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("[[dkim]] domain=example.test selector=gone"), std::string::npos)
        << message;
    EXPECT_NE(message.find("missing.pem"), std::string::npos) << message;
  }
  const DkimConfig garbage = entry("example.test", "bad", "not a key\n");
  EXPECT_THROW(DkimSigningTable({garbage}), ConfigError);
}

}  // namespace
}  // namespace herald
