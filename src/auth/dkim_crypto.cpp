#include "auth/dkim_crypto.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <fstream>
#include <new>
#include <sstream>

namespace herald {
namespace {

struct MdContextDeleter {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};
using MdContext = std::unique_ptr<EVP_MD_CTX, MdContextDeleter>;

const EVP_MD* rsa_digest(DkimAlgorithm algorithm) {
  return algorithm == DkimAlgorithm::rsa_sha1 ? EVP_sha1() : EVP_sha256();
}

}  // namespace

std::string dkim_digest(DkimAlgorithm algorithm, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, rsa_digest(algorithm), nullptr);
  return std::string(reinterpret_cast<char*>(digest), size);
}

std::variant<DkimPublicKey, std::string> load_dkim_public_key(DkimKeyRecord::KeyType type,
                                                              std::string_view bytes) {
  DkimPublicKey out;
  out.type = type;
  if (type == DkimKeyRecord::KeyType::ed25519) {
    // RFC 8463 4: p= is the bare 32-byte public key, not a SubjectPublicKeyInfo.
    if (bytes.size() != 32) return std::string("ed25519 key is not 32 bytes");
    EVP_PKEY* key = EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(bytes.data()), 32);
    if (key == nullptr) return std::string("ed25519 key rejected by OpenSSL");
    out.key = DkimKeyHandle(key, EVP_PKEY_free);
    out.bits = 256;
    return out;
  }
  const auto* cursor = reinterpret_cast<const unsigned char*>(bytes.data());
  EVP_PKEY* key = d2i_PUBKEY(nullptr, &cursor, static_cast<long>(bytes.size()));
  if (key == nullptr) return std::string("p= is not an RSA public key");
  out.key = DkimKeyHandle(key, EVP_PKEY_free);
  if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA) return std::string("p= is not an RSA key");
  out.bits = EVP_PKEY_get_bits(key);
  return out;
}

bool verify_dkim_signature(const DkimPublicKey& key, DkimAlgorithm algorithm,
                           std::string_view header_data, std::string_view signature) {
  return verify_dkim_digest(key, algorithm, dkim_digest(algorithm, header_data), signature);
}

bool verify_dkim_digest(const DkimPublicKey& key, DkimAlgorithm algorithm, std::string_view digest,
                        std::string_view signature) {
  const auto* sig = reinterpret_cast<const unsigned char*>(signature.data());
  const auto* hashed = reinterpret_cast<const unsigned char*>(digest.data());
  if (algorithm == DkimAlgorithm::ed25519_sha256) {
    MdContext context(EVP_MD_CTX_new());
    if (!context) return false;
    // Ed25519 is "pure": the digest is the message it signs, hashed again inside.
    if (EVP_DigestVerifyInit(context.get(), nullptr, nullptr, nullptr, key.key.get()) != 1)
      return false;
    return EVP_DigestVerify(context.get(), sig, signature.size(), hashed, digest.size()) == 1;
  }
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> context(
      EVP_PKEY_CTX_new(key.key.get(), nullptr), &EVP_PKEY_CTX_free);
  if (!context || EVP_PKEY_verify_init(context.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(context.get(), RSA_PKCS1_PADDING) != 1 ||
      EVP_PKEY_CTX_set_signature_md(context.get(), rsa_digest(algorithm)) != 1)
    return false;
  return EVP_PKEY_verify(context.get(), sig, signature.size(), hashed, digest.size()) == 1;
}

DkimDigestStream::DkimDigestStream(DkimAlgorithm algorithm) : context_(EVP_MD_CTX_new()) {
  if (!context_ || EVP_DigestInit_ex(context_.get(), rsa_digest(algorithm), nullptr) != 1)
    throw std::bad_alloc();
}

DkimDigestStream::DkimDigestStream(const DkimDigestStream& other) : context_(EVP_MD_CTX_new()) {
  if (!context_ || EVP_MD_CTX_copy_ex(context_.get(), other.context_.get()) != 1)
    throw std::bad_alloc();
}

DkimDigestStream::~DkimDigestStream() = default;

void DkimDigestStream::Free::operator()(evp_md_ctx_st* context) const {
  EVP_MD_CTX_free(context);
}

void DkimDigestStream::update(std::string_view data) {
  if (!data.empty()) EVP_DigestUpdate(context_.get(), data.data(), data.size());
}

std::string DkimDigestStream::finish() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(context_.get(), digest, &size);
  return std::string(reinterpret_cast<char*>(digest), size);
}

std::variant<DkimPrivateKey, std::string> load_dkim_private_key(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return std::string("out of memory");
  EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (raw == nullptr) return std::string("not a PEM private key");
  DkimPrivateKey out{DkimKeyHandle(raw, EVP_PKEY_free)};
  switch (EVP_PKEY_base_id(raw)) {
    case EVP_PKEY_RSA:
      // RFC 8301 3.2: signers MUST use RSA keys of at least 1024 bits.
      if (EVP_PKEY_get_bits(raw) < 1024)
        return std::string("RSA key is shorter than 1024 bits (RFC 8301)");
      out.algorithm = DkimAlgorithm::rsa_sha256;
      return out;
    case EVP_PKEY_ED25519:
      out.algorithm = DkimAlgorithm::ed25519_sha256;
      return out;
    default:
      return std::string("key is neither RSA nor Ed25519");
  }
}

std::variant<DkimPrivateKey, std::string> load_dkim_private_key_file(
    const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return "cannot read DKIM key " + file.string();
  std::ostringstream text;
  text << in.rdbuf();
  auto loaded = load_dkim_private_key(text.str());
  if (auto* error = std::get_if<std::string>(&loaded)) *error = file.string() + ": " + *error;
  return loaded;
}

std::optional<std::string> sign_dkim_data(evp_pkey_st* private_key, DkimAlgorithm algorithm,
                                          std::string_view header_data) {
  MdContext context(EVP_MD_CTX_new());
  if (!context) return std::nullopt;
  std::string input(header_data);
  const EVP_MD* md = rsa_digest(algorithm);
  if (algorithm == DkimAlgorithm::ed25519_sha256) {
    input = dkim_digest(algorithm, header_data);  // RFC 8463 3: sign the SHA-256 digest
    md = nullptr;
  }
  if (EVP_DigestSignInit(context.get(), nullptr, md, nullptr, private_key) != 1)
    return std::nullopt;
  size_t size = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  if (EVP_DigestSign(context.get(), nullptr, &size, data, input.size()) != 1) return std::nullopt;
  std::string signature(size, '\0');
  if (EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &size, data,
                     input.size()) != 1)
    return std::nullopt;
  signature.resize(size);
  return signature;
}

}  // namespace herald
