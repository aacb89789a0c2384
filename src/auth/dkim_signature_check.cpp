#include "auth/dkim_signature_check.h"

#include <algorithm>

#include "util/ascii.h"

namespace herald {
namespace {

std::string_view hash_name(DkimAlgorithm algorithm) {
  return algorithm == DkimAlgorithm::rsa_sha1 ? "sha1" : "sha256";
}

DkimCheck failure(DkimResult result, std::string reason, bool testing = false) {
  return DkimCheck{result, std::move(reason), testing};
}

}  // namespace

std::variant<DkimVerificationKey, DkimCheck> dkim_key_from_answer(
    const DnsAnswer<TxtRecord>& answer, const DkimSignature& sig, bool check_identity,
    bool accept_legacy_rsa) {
  // RFC 6376 6.1.2 step 3: a failed query is TEMPFAIL, no key is PERMFAIL.
  if (is_temporary(answer.status))
    return failure(DkimResult::temperror,
                   "key lookup failed: " + std::string(to_string(answer.status)));
  if (answer.status != DnsStatus::no_error || answer.records.empty())
    return failure(DkimResult::permerror,
                   "no key record at " + sig.selector + "._domainkey." + sig.domain);
  // RFC 6376 3.6.2.2: the strings of one TXT record are joined without separators.
  // Several records are ambiguous (6.1.2 step 5 leaves the choice open); the first decides.
  std::string text;
  for (const auto& piece : answer.records.front().strings) text += piece;
  auto parsed = parse_dkim_key_record(text);
  if (auto* error = std::get_if<DkimSyntaxError>(&parsed))
    return failure(DkimResult::permerror, "key record: " + error->reason);
  const DkimKeyRecord& record = std::get<DkimKeyRecord>(parsed);
  // RFC 6376 3.6.1 p=: an empty value means the key was revoked.
  if (record.public_key.empty())
    return failure(DkimResult::permerror, "key revoked", record.testing);
  // RFC 6376 3.6.1 h=: the hash of a= must be one the key allows.
  if (!record.hash_algorithms.empty() &&
      std::find(record.hash_algorithms.begin(), record.hash_algorithms.end(),
                hash_name(sig.algorithm)) == record.hash_algorithms.end())
    return failure(DkimResult::permerror,
                   "key does not allow " + std::string(hash_name(sig.algorithm)), record.testing);
  const bool ed25519_signature = sig.algorithm == DkimAlgorithm::ed25519_sha256;
  if (ed25519_signature != (record.key_type == DkimKeyRecord::KeyType::ed25519))
    return failure(DkimResult::permerror,
                   "key type does not match a=" + std::string(to_string(sig.algorithm)),
                   record.testing);
  // RFC 6376 3.6.1 t=s: the i= domain must be d= exactly, not a subdomain.
  if (check_identity && record.strict_identity &&
      ascii_lower(std::string_view(sig.identity).substr(sig.identity.rfind('@') + 1)) != sig.domain)
    return failure(DkimResult::permerror,
                   "key has t=s but i= is a subdomain of d=", record.testing);
  auto loaded = load_dkim_public_key(record.key_type, record.public_key);
  if (auto* error = std::get_if<std::string>(&loaded))
    return failure(DkimResult::permerror, "key record: " + *error, record.testing);
  DkimPublicKey& public_key = std::get<DkimPublicKey>(loaded);
  if (!accept_legacy_rsa) {
    // RFC 8301 3.1: rsa-sha1 MUST NOT be used for signing or verifying.
    if (sig.algorithm == DkimAlgorithm::rsa_sha1)
      return failure(DkimResult::policy, "rsa-sha1 is not accepted (RFC 8301)", record.testing);
    // RFC 8301 3.2: verifiers MUST NOT consider RSA keys under 1024 bits valid.
    if (public_key.type == DkimKeyRecord::KeyType::rsa && public_key.bits < 1024)
      return failure(
          DkimResult::policy,
          "RSA key of " + std::to_string(public_key.bits) + " bits is too short (RFC 8301)",
          record.testing);
  }
  return DkimVerificationKey{std::move(public_key), record.testing};
}

DkimCheck check_dkim_signature(const DkimSignature& sig, const DkimHeaderField& field,
                               const DkimMessage& message, const DkimPublicKey& key) {
  std::optional<std::string> body_hash;
  try {
    body_hash = message.body_hash(DkimBodyHashKey::of(sig));
  } catch (const ContentReadError& error) {
    // The stored body is unreadable for now: nothing is known about the signature yet.
    return failure(DkimResult::temperror,
                   "message body could not be read: " + std::string(error.what()));
  }
  // RFC 6376 3.5 l=: a length beyond the body cannot be what was signed.
  if (!body_hash) return failure(DkimResult::permerror, "l= is longer than the body");
  // RFC 6376 6.1.3: the body hash is checked before the signature.
  if (*body_hash != sig.body_hash) return failure(DkimResult::fail, "body hash does not match");
  const std::string header_data = dkim_header_hash_input(message.headers(), sig.signed_headers,
                                                         field, sig.header_canonicalization);
  if (!verify_dkim_signature(key, sig.algorithm, header_data, sig.signature))
    return failure(DkimResult::fail, "signature does not verify");
  return DkimCheck{DkimResult::pass, "good signature"};
}

}  // namespace herald
