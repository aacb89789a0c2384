#include "auth/dkim_keygen.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <memory>
#include <stdexcept>

namespace herald {

DkimKeyPair generate_dkim_key(DkimKeyRecord::KeyType type) {
  const bool rsa = type == DkimKeyRecord::KeyType::rsa;
  EVP_PKEY* raw = rsa ? EVP_RSA_gen(2048) : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (raw == nullptr) throw std::runtime_error("OpenSSL could not generate a DKIM key");
  const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(raw, EVP_PKEY_free);

  DkimKeyPair pair;
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr ||
      PEM_write_bio_PKCS8PrivateKey(bio, raw, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    BIO_free(bio);
    throw std::runtime_error("OpenSSL could not write the DKIM key");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  pair.private_key_pem.assign(data, static_cast<size_t>(size));
  BIO_free(bio);

  std::string public_bytes;
  if (rsa) {
    // RFC 6376 3.6.1 p=: the DER SubjectPublicKeyInfo.
    unsigned char* der = nullptr;
    const int length = i2d_PUBKEY(raw, &der);
    if (length <= 0) throw std::runtime_error("OpenSSL could not encode the DKIM public key");
    public_bytes.assign(reinterpret_cast<char*>(der), static_cast<size_t>(length));
    OPENSSL_free(der);
  } else {
    // RFC 8463 4: the bare 32-byte public key.
    size_t length = 32;
    public_bytes.resize(length);
    EVP_PKEY_get_raw_public_key(raw, reinterpret_cast<unsigned char*>(public_bytes.data()),
                                &length);
    public_bytes.resize(length);
  }
  pair.key_record =
      std::string("v=DKIM1; k=") + (rsa ? "rsa" : "ed25519") + "; p=" + encode_base64(public_bytes);
  return pair;
}

std::string dkim_zone_line(std::string_view domain, std::string_view selector,
                           std::string_view key_record) {
  std::string line = std::string(selector) + "._domainkey." + std::string(domain) + " IN TXT";
  for (size_t pos = 0; pos < key_record.size(); pos += 255)
    line += " \"" + std::string(key_record.substr(pos, 255)) + "\"";
  return line;
}

}  // namespace herald
