#include "auth/dkim_sign.h"

#include "auth/dkim_body_hash.h"
#include "auth/dkim_canonical.h"
#include "auth/dkim_crypto.h"
#include "mime/header.h"
#include "util/ascii.h"

namespace herald {

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
  return from_key(load_dkim_private_key_file(file), std::move(domain), std::move(selector));
}

std::variant<DkimSigner, DkimSignError> DkimSigner::from_pem(std::string_view pem,
                                                             std::string domain,
                                                             std::string selector) {
  return from_key(load_dkim_private_key(pem), std::move(domain), std::move(selector));
}

std::variant<DkimSigner, DkimSignError> DkimSigner::from_key(
    std::variant<DkimPrivateKey, std::string> loaded, std::string domain, std::string selector) {
  if (auto* error = std::get_if<std::string>(&loaded)) return DkimSignError{std::move(*error)};
  auto& key = std::get<DkimPrivateKey>(loaded);
  return DkimSigner(std::move(key.key), key.algorithm, std::move(domain), std::move(selector));
}

std::optional<std::vector<std::string>> dkim_headers_to_sign(
    const std::vector<DkimHeaderField>& headers) {
  std::vector<std::string> signed_headers;
  bool has_from = false;
  for (const std::string& name : DkimSigner::signed_header_names()) {
    size_t present = 0;
    for (const auto& field : headers)
      if (equals_ignoring_ascii_case(field.name, name)) ++present;
    if (name == "from") {
      has_from = present > 0;
      ++present;  // RFC 6376 8.15: one more than present, so no From can be added
    }
    signed_headers.insert(signed_headers.end(), present, name);
  }
  if (!has_from) return std::nullopt;
  return signed_headers;
}

std::variant<std::string, DkimSignError> DkimSigner::sign(const MessageContent& message,
                                                          TimePoint now) const {
  const std::vector<DkimHeaderField> headers = split_dkim_message(message.header).headers;
  const auto signed_headers = dkim_headers_to_sign(headers);
  // RFC 6376 5.4: the From field MUST be signed.
  if (!signed_headers) return DkimSignError{"the message has no From field"};

  // Streamed from the body's pieces: outgoing mail is not copied to be signed.
  const std::string body_hash = *dkim_body_hash(
      *message.body,
      {DkimCanonicalization::relaxed,
       algorithm_ == DkimAlgorithm::rsa_sha1 ? DkimBodyDigest::sha1 : DkimBodyDigest::sha256,
       std::nullopt});
  std::string h;
  for (const std::string& name : *signed_headers) h += (h.empty() ? "" : ":") + name;
  const int64_t t =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const std::string unsigned_value = "v=1; a=" + std::string(to_string(algorithm_)) +
                                     "; c=relaxed/relaxed; d=" + domain_ + "; s=" + selector_ +
                                     "; t=" + std::to_string(t) + "; h=" + h +
                                     "; bh=" + encode_base64(body_hash) + "; b=";

  // RFC 6376 3.7: the signature covers this field with an empty b=. Relaxed header
  // canonicalisation makes the folding added below irrelevant to the hash.
  const std::string unsigned_field = header_field("DKIM-Signature", unsigned_value);
  const std::string header_data = dkim_header_hash_input(
      headers, *signed_headers, {"DKIM-Signature", unsigned_field}, DkimCanonicalization::relaxed);
  const auto signature = sign_dkim_data(key_.get(), algorithm_, header_data);
  if (!signature) return DkimSignError{"OpenSSL could not sign"};
  return header_field("DKIM-Signature", unsigned_value + encode_base64(*signature));
}

bool DkimSigner::has_signed(std::string_view header) const {
  for (const DkimHeaderField& field : split_dkim_message(header).headers) {
    if (!equals_ignoring_ascii_case(field.name, "DKIM-Signature")) continue;
    const auto parsed = parse_dkim_signature(field.raw.substr(field.raw.find(':') + 1));
    const auto* signature = std::get_if<DkimSignature>(&parsed);
    if (signature && signature->domain == domain_ && signature->selector == selector_) return true;
  }
  return false;
}

}  // namespace herald
