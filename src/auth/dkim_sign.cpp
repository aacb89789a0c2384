#include "auth/dkim_sign.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cctype>
#include <fstream>
#include <sstream>

#include "auth/dkim_canonical.h"
#include "auth/dkim_crypto.h"
#include "mime/header.h"
#include "util/ascii.h"

namespace herald {
namespace {}  // namespace

const std::vector<std::string>& DkimSigner::signed_header_names() {
  // RFC 6376 5.4.1: the fields that carry the message's meaning to its reader; never
  // Received or Return-Path, which relays add to or rewrite.
  static const std::vector<std::string> names = {"from",
                                                 "reply-to",
                                                 "sender",
                                                 "subject",
                                                 "date",
                                                 "to",
                                                 "cc",
                                                 "message-id",
                                                 "in-reply-to",
                                                 "references",
                                                 "mime-version",
                                                 "content-type",
                                                 "content-transfer-encoding",
                                                 "list-id",
                                                 "list-unsubscribe",
                                                 "list-unsubscribe-post"};
  return names;
}

DkimSigner::DkimSigner(std::shared_ptr<evp_pkey_st> key, DkimAlgorithm algorithm,
                       std::string domain, std::string selector)
    : key_(std::move(key)),
      algorithm_(algorithm),
      domain_(ascii_lower(std::move(domain))),
      selector_(ascii_lower(std::move(selector))) {}

std::variant<DkimSigner, DkimSignError> DkimSigner::from_pem_file(const std::filesystem::path& file,
                                                                  std::string domain,
                                                                  std::string selector) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return DkimSignError{"cannot read DKIM key " + file.string()};
  std::ostringstream text;
  text << in.rdbuf();
  auto loaded = from_pem(text.str(), std::move(domain), std::move(selector));
  if (auto* error = std::get_if<DkimSignError>(&loaded))
    error->reason = file.string() + ": " + error->reason;
  return loaded;
}

std::variant<DkimSigner, DkimSignError> DkimSigner::from_pem(std::string_view pem,
                                                             std::string domain,
                                                             std::string selector) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return DkimSignError{"out of memory"};
  EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (raw == nullptr) return DkimSignError{"not a PEM private key"};
  std::shared_ptr<evp_pkey_st> key(raw, EVP_PKEY_free);
  switch (EVP_PKEY_base_id(raw)) {
    case EVP_PKEY_RSA:
      // RFC 8301 3.2: signers MUST use RSA keys of at least 1024 bits.
      if (EVP_PKEY_get_bits(raw) < 1024)
        return DkimSignError{"RSA key is shorter than 1024 bits (RFC 8301)"};
      return DkimSigner(std::move(key), DkimAlgorithm::rsa_sha256, std::move(domain),
                        std::move(selector));
    case EVP_PKEY_ED25519:
      return DkimSigner(std::move(key), DkimAlgorithm::ed25519_sha256, std::move(domain),
                        std::move(selector));
    default:
      return DkimSignError{"key is neither RSA nor Ed25519"};
  }
}

std::variant<std::string, DkimSignError> DkimSigner::sign(std::string_view message,
                                                          TimePoint now) const {
  const DkimMessageParts parts = split_dkim_message(message);
  std::vector<std::string> signed_headers;
  bool has_from = false;
  for (const std::string& name : signed_header_names()) {
    size_t present = 0;
    for (const auto& field : parts.headers)
      if (equals_ignoring_ascii_case(field.name, name)) ++present;
    if (name == "from") {
      has_from = present > 0;
      ++present;  // RFC 6376 8.15: one more than present, so no From can be added
    }
    signed_headers.insert(signed_headers.end(), present, name);
  }
  // RFC 6376 5.4: the From field MUST be signed.
  if (!has_from) return DkimSignError{"the message has no From field"};

  const std::string body = canonicalize_body(parts.body, DkimCanonicalization::relaxed);
  std::string h;
  for (const std::string& name : signed_headers) h += (h.empty() ? "" : ":") + name;
  const int64_t t =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const std::string unsigned_value =
      "v=1; a=" + std::string(to_string(algorithm_)) + "; c=relaxed/relaxed; d=" + domain_ +
      "; s=" + selector_ + "; t=" + std::to_string(t) + "; h=" + h +
      "; bh=" + encode_base64(dkim_digest(algorithm_, body)) + "; b=";

  // RFC 6376 3.7: the signature covers this field with an empty b=. Relaxed header
  // canonicalisation makes the folding added below irrelevant to the hash.
  const std::string unsigned_field = header_field("DKIM-Signature", unsigned_value);
  const std::string header_data =
      dkim_header_hash_input(parts.headers, signed_headers, {"DKIM-Signature", unsigned_field},
                             DkimCanonicalization::relaxed);
  const auto signature = sign_dkim_data(key_.get(), algorithm_, header_data);
  if (!signature) return DkimSignError{"OpenSSL could not sign"};
  return header_field("DKIM-Signature", unsigned_value + encode_base64(*signature));
}

bool DkimSigner::has_signed(std::string_view message) const {
  for (const DkimHeaderField& field : split_dkim_message(message).headers) {
    if (!equals_ignoring_ascii_case(field.name, "DKIM-Signature")) continue;
    const auto parsed = parse_dkim_signature(field.raw.substr(field.raw.find(':') + 1));
    const auto* signature = std::get_if<DkimSignature>(&parsed);
    if (signature && signature->domain == domain_ && signature->selector == selector_) return true;
  }
  return false;
}

}  // namespace herald
