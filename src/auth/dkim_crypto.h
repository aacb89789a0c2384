// The cryptography of DKIM over OpenSSL: the body and header digests, and RSA PKCS#1 v1.5
// (RFC 6376 3.3) and Ed25519 (RFC 8463 3) signatures over the header data. Shared by the
// signer and the verifier so that both hash exactly the same way.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "auth/dkim_signature.h"

struct evp_pkey_st;    // OpenSSL's EVP_PKEY, kept out of this header
struct evp_md_ctx_st;  // and its EVP_MD_CTX

namespace herald {

using DkimKeyHandle = std::shared_ptr<evp_pkey_st>;

// The digest a= names (SHA-1 for rsa-sha1, SHA-256 otherwise), binary.
std::string dkim_digest(DkimAlgorithm algorithm, std::string_view data);

// The same digest over data that comes in pieces, so that a long input is never put together
// in one string, and so that inputs sharing a prefix hash it once: a copy carries the state
// reached so far (the ARC seals of a chain, each covering the sets below it). One thread at a
// time; copies are independent.
class DkimDigestStream {
 public:
  explicit DkimDigestStream(DkimAlgorithm algorithm);
  DkimDigestStream(const DkimDigestStream& other);
  DkimDigestStream& operator=(const DkimDigestStream&) = delete;
  DkimDigestStream(DkimDigestStream&&) noexcept = default;
  DkimDigestStream& operator=(DkimDigestStream&&) noexcept = default;
  ~DkimDigestStream();

  void update(std::string_view data);
  // The binary digest of everything fed; the stream may not be fed after this.
  std::string finish();

 private:
  struct Free {
    void operator()(evp_md_ctx_st* context) const;
  };
  std::unique_ptr<evp_md_ctx_st, Free> context_;
};

struct DkimPublicKey {
  DkimKeyHandle key;
  DkimKeyRecord::KeyType type = DkimKeyRecord::KeyType::rsa;
  int bits = 0;  // RSA modulus size; 256 for Ed25519
};

// The key from a record's p= bytes: DER SubjectPublicKeyInfo for RSA (RFC 6376 3.6.1),
// the raw 32 bytes for Ed25519 (RFC 8463 4). On failure, why.
std::variant<DkimPublicKey, std::string> load_dkim_public_key(DkimKeyRecord::KeyType type,
                                                              std::string_view bytes);

// True when `signature` is the signature of `header_data` under `key` with `algorithm`.
// Ed25519 signs the SHA-256 digest of the data, not the data (RFC 8463 3).
bool verify_dkim_signature(const DkimPublicKey& key, DkimAlgorithm algorithm,
                           std::string_view header_data, std::string_view signature);

// The same check given dkim_digest(algorithm, header_data) instead of the data: RSA
// PKCS#1 v1.5 verifies the digest itself (RFC 8017 8.2.2), and Ed25519 in DKIM signs the
// digest anyway (RFC 8463 3). For inputs hashed with a DkimDigestStream.
bool verify_dkim_digest(const DkimPublicKey& key, DkimAlgorithm algorithm, std::string_view digest,
                        std::string_view signature);

// A signing key and the algorithm it implies: rsa-sha256 for RSA, ed25519-sha256 for Ed25519.
struct DkimPrivateKey {
  DkimKeyHandle key;
  DkimAlgorithm algorithm = DkimAlgorithm::rsa_sha256;
};

// Loads a PEM private key (PKCS#8 or the traditional RSA form). On failure, why: not PEM,
// another key type, or RSA under 1024 bits (RFC 8301 3.2). The _file form reads `file`
// first; its errors name the file.
std::variant<DkimPrivateKey, std::string> load_dkim_private_key(std::string_view pem);
std::variant<DkimPrivateKey, std::string> load_dkim_private_key_file(
    const std::filesystem::path& file);

// The signature of `header_data` under the private key; nullopt when OpenSSL fails.
std::optional<std::string> sign_dkim_data(evp_pkey_st* private_key, DkimAlgorithm algorithm,
                                          std::string_view header_data);

}  // namespace herald
