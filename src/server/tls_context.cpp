#include "server/tls_context.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <boost/asio/ssl/context.hpp>
#include <cstdio>
#include <stdexcept>
#include <system_error>

#include "util/atomic_file.h"

namespace herald {
namespace {

namespace ssl = boost::asio::ssl;

constexpr long kValiditySeconds = 10L * 365 * 24 * 60 * 60;

// Mozilla's "intermediate" TLS 1.2 list: ECDHE/DHE key exchange, AEAD ciphers only. TLS 1.3
// suites are all of that kind and stay at OpenSSL's defaults.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";

struct FreeKey {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct FreeCert {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct FreeBio {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, FreeKey>;
using CertPtr = std::unique_ptr<X509, FreeCert>;
using BioPtr = std::unique_ptr<BIO, FreeBio>;

std::string openssl_error() {
  const unsigned long code = ERR_get_error();
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + openssl_error());
}

void add_extension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
  if (!extension) fail("cannot make certificate extension " + value);
  const int added = X509_add_ext(cert, extension, -1);
  X509_EXTENSION_free(extension);
  if (!added) fail("cannot add certificate extension " + value);
}

CertPtr self_signed_certificate(EVP_PKEY* key, const std::string& hostname) {
  CertPtr cert(X509_new());
  if (!cert) fail("cannot make a certificate");
  // A random serial: a regenerated pair must not repeat its predecessor's (RFC 5280 4.1.2.2).
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) fail("no randomness for the serial number");
  serial[0] &= 0x7f;  // positive
  BIGNUM* number = BN_bin2bn(serial, sizeof serial, nullptr);
  const bool serial_set = number && BN_to_ASN1_INTEGER(number, X509_get_serialNumber(cert.get()));
  BN_free(number);
  if (!serial_set) fail("cannot set the serial number");

  X509_set_version(cert.get(), X509_VERSION_3);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), kValiditySeconds);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(hostname.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  // RFC 6125 6.4.4: clients match the name in subjectAltName, not in the CN.
  add_extension(cert.get(), NID_subject_alt_name, "DNS:" + hostname);
  add_extension(cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert.get(), NID_ext_key_usage, "serverAuth");
  if (!X509_sign(cert.get(), key, EVP_sha256())) fail("cannot sign the certificate");
  return cert;
}

std::string pem_of(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(length));
}

void generate_pair(const TlsFiles& files, const std::string& hostname) {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) fail("cannot generate an EC P-256 key");
  const CertPtr cert = self_signed_certificate(key.get(), hostname);

  BioPtr key_pem(BIO_new(BIO_s_mem()));
  BioPtr cert_pem(BIO_new(BIO_s_mem()));
  if (!key_pem || !cert_pem ||
      !PEM_write_bio_PrivateKey(key_pem.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) ||
      !PEM_write_bio_X509(cert_pem.get(), cert.get())) {
    fail("cannot encode the TLS pair");
  }
  // The key first: a certificate is only ever present beside its key.
  write_file_atomically(files.key, pem_of(key_pem.get()), 0600);
  write_file_atomically(files.cert, pem_of(cert_pem.get()), 0644);
}

}  // namespace

TlsFiles ensure_tls_files(const Config& config) {
  if (!config.tls.cert.empty()) return TlsFiles{config.tls.cert, config.tls.key};
  const std::filesystem::path directory = config.server.data_dir / "tls";
  const TlsFiles files{directory / "cert.pem", directory / "key.pem"};
  if (std::filesystem::exists(files.cert) && std::filesystem::exists(files.key)) return files;
  std::filesystem::create_directories(directory);
  std::filesystem::permissions(directory, std::filesystem::perms::owner_all);
  generate_pair(files, config.server.hostname);
  spdlog::info("tls generated self-signed certificate for {} in {}", config.server.hostname,
               directory.string());
  return files;
}

std::unique_ptr<ssl::context> make_server_tls_context(const TlsFiles& files) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(
      native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) fail("cannot set the TLS cipher list");
  boost::system::error_code ec;
  context->use_certificate_chain_file(files.cert.string(), ec);
  if (ec)
    throw std::runtime_error("cannot load TLS certificate " + files.cert.string() + ": " +
                             ec.message());
  context->use_private_key_file(files.key.string(), ssl::context::pem, ec);
  if (ec)
    throw std::runtime_error("cannot load TLS key " + files.key.string() + ": " + ec.message());
  if (SSL_CTX_check_private_key(native) != 1) {
    throw std::runtime_error("TLS key " + files.key.string() + " does not match certificate " +
                             files.cert.string());
  }
  return context;
}

}  // namespace herald
