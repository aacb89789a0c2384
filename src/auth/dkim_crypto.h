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

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of this header

namespace herald {

using DkimKeyHandle = std::shared_ptr<evp_pkey_st>;

// The digest a= names (SHA-1 for rsa-sha1, SHA-256 otherwise), binary.
std::string dkim_digest(DkimAlgorithm algorithm, std::string_view data);

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
