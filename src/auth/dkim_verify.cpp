#include "auth/dkim_verify.h"

#include <memory>
#include <mutex>

#include "auth/dkim_canonical.h"
#include "auth/dkim_message.h"
#include "auth/dkim_signature_check.h"
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

// RFC 6376 6.1: a verifier may limit the signatures it tries (denial of service). Within
// `max`, those `first` picks go first, then the topmost (added by the hops nearest to us);
// the fields chosen come back in message order, and `unchecked` counts the others. Only when
// there are more fields than `max` are they parsed to be picked (linear in the header).
std::vector<const DkimHeaderField*> fields_to_check(const std::vector<DkimHeaderField>& headers,
                                                    size_t max, const SignaturePreference& first,
                                                    size_t& unchecked) {
  std::vector<const DkimHeaderField*> all;
  for (const DkimHeaderField& field : headers)
    if (is_signature_field(field.name)) all.push_back(&field);
  unchecked = all.size() > max ? all.size() - max : 0;
  if (unchecked == 0) return all;
  std::vector<bool> chosen(all.size(), false);
  size_t count = 0;
  for (size_t i = 0; first && i < all.size() && count < max; ++i) {
    auto parsed = parse_dkim_signature(field_value(all[i]->raw));
    const auto* signature = std::get_if<DkimSignature>(&parsed);
    if (signature && first(signature->domain)) {
      chosen[i] = true;
      ++count;
    }
  }
  for (size_t i = 0; i < all.size() && count < max; ++i) {
    if (chosen[i]) continue;
    chosen[i] = true;
    ++count;
  }
  std::vector<const DkimHeaderField*> out;
  for (size_t i = 0; i < all.size(); ++i)
    if (chosen[i]) out.push_back(all[i]);
  return out;
}

// One verify() call: the message, the verdicts being filled, and the lookups still out.
struct Verification {
  std::shared_ptr<const DkimMessage> message;
  std::vector<DkimVerdict> verdicts;
  std::vector<std::optional<DkimSignature>> signatures;
  std::vector<const DkimHeaderField*> fields;
  DkimVerifier::Done done;
  std::mutex mutex;
  size_t outstanding = 0;
};

// RFC 6376 6.1.2 and 6.1.3 once the key record is in hand.
void check_with_key(const DkimSignature& sig, const DkimHeaderField& field,
                    const DkimMessage& message, const DnsAnswer<TxtRecord>& answer,
                    const DkimVerifyOptions& options, DkimVerdict& out) {
  auto key = dkim_key_from_answer(answer, sig, true, options.accept_legacy_rsa);
  if (auto* failed = std::get_if<DkimCheck>(&key)) {
    out.result = failed->result;
    out.reason = std::move(failed->reason);
    out.testing = failed->testing;
    return;
  }
  const DkimVerificationKey& usable = std::get<DkimVerificationKey>(key);
  out.testing = usable.testing;
  DkimCheck check = check_dkim_signature(sig, field, message, usable.key);
  out.result = check.result;
  out.reason = std::move(check.reason);
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

DkimVerifier::DkimVerifier(Resolver& resolver, const Clock& clock, DkimVerifyOptions options,
                           VerifyExecutor executor)
    : resolver_(resolver), clock_(clock), options_(options), executor_(std::move(executor)) {}

void DkimVerifier::verify(const MessageContent& message, Done done) {
  verify(std::make_shared<const DkimMessage>(message), std::move(done));
}

void DkimVerifier::verify(std::shared_ptr<const DkimMessage> message, Done done,
                          const SignaturePreference& first) {
  auto state = std::make_shared<Verification>();
  state->message = std::move(message);
  state->done = std::move(done);
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch()).count();
  const int64_t skew =
      std::chrono::duration_cast<std::chrono::seconds>(options_.allowed_clock_skew).count();

  size_t unchecked = 0;
  for (const DkimHeaderField* chosen :
       fields_to_check(state->message->headers(), options_.max_signatures, first, unchecked)) {
    const DkimHeaderField& field = *chosen;
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
      state->message->declare(DkimBodyHashKey::of(sig));
      state->signatures.push_back(std::move(sig));
    } else {
      state->signatures.emplace_back();
    }
  }
  if (unchecked > 0) {
    state->verdicts.push_back(verdict(
        DkimResult::policy, "too many signatures, " + std::to_string(unchecked) + " not checked"));
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
    // RFC 6376 3.6.2.1: the key lives at selector._domainkey.domain. The answer arrives on the
    // resolver's thread; the hashing and the public-key operation go to the pool.
    resolver_.lookup_txt(
        sig.selector + "._domainkey." + sig.domain,
        [state, index, options = options_, executor = executor_](DnsAnswer<TxtRecord> answer) {
          run_verification(executor, [state, index, options, answer = std::move(answer)] {
            check_with_key(*state->signatures[index], *state->fields[index], *state->message,
                           answer, options, state->verdicts[index]);
            bool last = false;
            {
              std::lock_guard lock(state->mutex);
              last = --state->outstanding == 0;
            }
            if (last) state->done(std::move(state->verdicts));
          });
        });
  }
}

}  // namespace herald
