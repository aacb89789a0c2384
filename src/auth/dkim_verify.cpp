#include "auth/dkim_verify.h"

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

#include "auth/dkim_canonical.h"
#include "auth/dkim_crypto.h"
#include "dns/resolver.h"
#include "util/ascii.h"

namespace herald {
namespace {

bool is_signature_field(std::string_view name) {
  return equals_ignoring_ascii_case(name, "DKIM-Signature");
}

std::string_view field_value(std::string_view raw) {
  const auto colon = raw.find(':');
  return colon == std::string_view::npos ? std::string_view() : raw.substr(colon + 1);
}

DkimVerdict verdict(DkimResult result, std::string reason) {
  DkimVerdict v;
  v.result = result;
  v.reason = std::move(reason);
  return v;
}

// One verify() call: the message, the verdicts being filled, and the lookups still out.
struct Verification {
  std::string message;
  DkimMessageParts parts;
  std::vector<DkimVerdict> verdicts;
  std::vector<std::optional<DkimSignature>> signatures;
  std::vector<const DkimHeaderField*> fields;
  DkimVerifier::Done done;
  std::mutex mutex;
  size_t outstanding = 0;
};

std::string_view hash_name(DkimAlgorithm algorithm) {
  return algorithm == DkimAlgorithm::rsa_sha1 ? "sha1" : "sha256";
}

// RFC 6376 6.1.2 and 6.1.3 once the key record is in hand.
void check_with_key(const DkimSignature& sig, const DkimHeaderField& field,
                    const DkimMessageParts& parts, const DnsAnswer<TxtRecord>& answer,
                    const DkimVerifyOptions& options, DkimVerdict& out) {
  // RFC 6376 6.1.2 step 3: a failed query is TEMPFAIL, no key is PERMFAIL.
  if (is_temporary(answer.status)) {
    out.result = DkimResult::temperror;
    out.reason = "key lookup failed: " + std::string(to_string(answer.status));
    return;
  }
  if (answer.status != DnsStatus::no_error || answer.records.empty()) {
    out.result = DkimResult::permerror;
    out.reason = "no key record at " + sig.selector + "._domainkey." + sig.domain;
    return;
  }
  // RFC 6376 3.6.2.2: the strings of one TXT record are joined without separators.
  // Several records are ambiguous (6.1.2 step 5 leaves the choice open); the first decides.
  std::string text;
  for (const auto& piece : answer.records.front().strings) text += piece;
  auto parsed = parse_dkim_key_record(text);
  if (auto* error = std::get_if<DkimSyntaxError>(&parsed)) {
    out.result = DkimResult::permerror;
    out.reason = "key record: " + error->reason;
    return;
  }
  const DkimKeyRecord& key = std::get<DkimKeyRecord>(parsed);
  out.testing = key.testing;
  // RFC 6376 3.6.1 p=: an empty value means the key was revoked.
  if (key.public_key.empty()) {
    out.result = DkimResult::permerror;
    out.reason = "key revoked";
    return;
  }
  // RFC 6376 3.6.1 h=: the hash of a= must be one the key allows.
  if (!key.hash_algorithms.empty() &&
      std::find(key.hash_algorithms.begin(), key.hash_algorithms.end(), hash_name(sig.algorithm)) ==
          key.hash_algorithms.end()) {
    out.result = DkimResult::permerror;
    out.reason = "key does not allow " + std::string(hash_name(sig.algorithm));
    return;
  }
  const bool ed25519_signature = sig.algorithm == DkimAlgorithm::ed25519_sha256;
  if (ed25519_signature != (key.key_type == DkimKeyRecord::KeyType::ed25519)) {
    out.result = DkimResult::permerror;
    out.reason = "key type does not match a=" + std::string(to_string(sig.algorithm));
    return;
  }
  // RFC 6376 3.6.1 t=s: the i= domain must be d= exactly, not a subdomain.
  if (key.strict_identity &&
      ascii_lower(std::string_view(sig.identity).substr(sig.identity.rfind('@') + 1)) !=
          sig.domain) {
    out.result = DkimResult::permerror;
    out.reason = "key has t=s but i= is a subdomain of d=";
    return;
  }
  auto loaded = load_dkim_public_key(key.key_type, key.public_key);
  if (auto* error = std::get_if<std::string>(&loaded)) {
    out.result = DkimResult::permerror;
    out.reason = "key record: " + *error;
    return;
  }
  const DkimPublicKey& public_key = std::get<DkimPublicKey>(loaded);
  if (!options.accept_legacy_rsa) {
    // RFC 8301 3.1: rsa-sha1 MUST NOT be used for signing or verifying.
    if (sig.algorithm == DkimAlgorithm::rsa_sha1) {
      out.result = DkimResult::policy;
      out.reason = "rsa-sha1 is not accepted (RFC 8301)";
      return;
    }
    // RFC 8301 3.2: verifiers MUST NOT consider RSA keys under 1024 bits valid.
    if (public_key.type == DkimKeyRecord::KeyType::rsa && public_key.bits < 1024) {
      out.result = DkimResult::policy;
      out.reason =
          "RSA key of " + std::to_string(public_key.bits) + " bits is too short (RFC 8301)";
      return;
    }
  }

  std::string body = canonicalize_body(parts.body, sig.body_canonicalization);
  if (sig.body_length) {
    // RFC 6376 3.5 l=: a length beyond the body cannot be what was signed.
    if (*sig.body_length > body.size()) {
      out.result = DkimResult::permerror;
      out.reason = "l= is longer than the body";
      return;
    }
    body.resize(*sig.body_length);
  }
  // RFC 6376 6.1.3: the body hash is checked before the signature.
  if (dkim_digest(sig.algorithm, body) != sig.body_hash) {
    out.result = DkimResult::fail;
    out.reason = "body hash does not match";
    return;
  }
  const std::string header_data =
      dkim_header_hash_input(parts.headers, sig.signed_headers, field, sig.header_canonicalization);
  if (!verify_dkim_signature(public_key, sig.algorithm, header_data, sig.signature)) {
    out.result = DkimResult::fail;
    out.reason = "signature does not verify";
    return;
  }
  out.result = DkimResult::pass;
  out.reason = "good signature";
}

}  // namespace

std::string_view to_string(DkimResult result) {
  switch (result) {
    case DkimResult::pass:
      return "pass";
    case DkimResult::fail:
      return "fail";
    case DkimResult::neutral:
      return "neutral";
    case DkimResult::temperror:
      return "temperror";
    case DkimResult::permerror:
      return "permerror";
    case DkimResult::policy:
      return "policy";
  }
  return "permerror";
}

DkimVerifier::DkimVerifier(Resolver& resolver, const Clock& clock, DkimVerifyOptions options)
    : resolver_(resolver), clock_(clock), options_(options) {}

void DkimVerifier::verify(std::string message, Done done) {
  auto state = std::make_shared<Verification>();
  state->message = std::move(message);
  state->parts = split_dkim_message(state->message);
  state->done = std::move(done);
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch()).count();
  const int64_t skew =
      std::chrono::duration_cast<std::chrono::seconds>(options_.allowed_clock_skew).count();

  for (const DkimHeaderField& field : state->parts.headers) {
    if (!is_signature_field(field.name)) continue;
    state->fields.push_back(&field);
    auto parsed = parse_dkim_signature(field_value(field.raw));
    if (auto* error = std::get_if<DkimSyntaxError>(&parsed)) {
      // RFC 6376 6.1.1: a signature that does not parse is PERMFAIL.
      state->verdicts.push_back(verdict(DkimResult::permerror, error->reason));
      state->signatures.emplace_back();
      continue;
    }
    DkimSignature& sig = std::get<DkimSignature>(parsed);
    DkimVerdict v;
    v.domain = sig.domain;
    v.selector = sig.selector;
    v.identity = sig.identity;
    v.algorithm = sig.algorithm;
    bool usable = true;
    // RFC 6376 6.1.1: an expired signature is PERMFAIL (x= is an absolute time).
    if (sig.expiration && *sig.expiration < now) {
      v.result = DkimResult::permerror;
      v.reason = "signature expired";
      usable = false;
    } else if (sig.timestamp && *sig.timestamp > now + skew) {
      // RFC 6376 3.5 t=: verifiers MAY ignore signatures made in the future.
      v.result = DkimResult::permerror;
      v.reason = "signature timestamp is in the future";
      usable = false;
    }
    state->verdicts.push_back(std::move(v));
    if (usable) {
      state->signatures.push_back(std::move(sig));
    } else {
      state->signatures.emplace_back();
    }
  }

  std::vector<size_t> lookups;
  for (size_t i = 0; i < state->signatures.size(); ++i)
    if (state->signatures[i]) lookups.push_back(i);
  if (lookups.empty()) {
    state->done(std::move(state->verdicts));
    return;
  }
  state->outstanding = lookups.size();
  for (size_t index : lookups) {
    const DkimSignature& sig = *state->signatures[index];
    // RFC 6376 3.6.2.1: the key lives at selector._domainkey.domain.
    resolver_.lookup_txt(sig.selector + "._domainkey." + sig.domain,
                         [state, index, options = options_](DnsAnswer<TxtRecord> answer) {
                           check_with_key(*state->signatures[index], *state->fields[index],
                                          state->parts, answer, options, state->verdicts[index]);
                           bool last = false;
                           {
                             std::lock_guard lock(state->mutex);
                             last = --state->outstanding == 0;
                           }
                           if (last) state->done(std::move(state->verdicts));
                         });
  }
}

}  // namespace herald
