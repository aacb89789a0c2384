#include "auth/arc_verify.h"

#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "auth/dkim_crypto.h"
#include "auth/dkim_message.h"
#include "auth/dkim_signature_check.h"
#include "dns/resolver.h"

namespace herald {
namespace {

// One verify() call: the message, its sets, and the key answers as they come in.
struct Validation {
  std::shared_ptr<const DkimMessage> message;
  ArcChainFields chain;
  ArcVerdict verdict;
  std::function<void(ArcVerdict)> done;
  std::mutex mutex;
  std::map<std::string, DnsAnswer<TxtRecord>> answers;  // by key name, filled as they come
  size_t outstanding = 0;
};

std::string key_name(const DkimSignature& signature) {
  return signature.selector + "._domainkey." + signature.domain;
}

ArcVerdict& failed(ArcVerdict& verdict, std::string reason) {
  verdict.result = ArcChainResult::fail;
  verdict.reason = std::move(reason);
  return verdict;
}

// RFC 8617 5.2 steps 3 and 4, before any DNS: the newest cv= and each seal's place.
bool chain_form_holds(const ArcChainFields& chain, ArcVerdict& verdict) {
  const ArcSet& newest = chain.sets.back();
  if (newest.seal.chain == ArcChainResult::fail) {
    failed(verdict, "ARC-Seal i=" + std::to_string(newest.instance) + " already says cv=fail");
    return false;
  }
  for (const ArcSet& set : chain.sets) {
    const ArcChainResult expected = set.instance == 1 ? ArcChainResult::none : ArcChainResult::pass;
    if (set.seal.chain != expected) {
      failed(verdict, "ARC-Seal i=" + std::to_string(set.instance) +
                          " has cv=" + std::string(to_string(set.seal.chain)) + ", expected " +
                          std::string(to_string(expected)));
      return false;
    }
  }
  return true;
}

// The key for `signature`, or the reason there is none.
std::variant<DkimVerificationKey, std::string> key_for(const Validation& state,
                                                       const DkimSignature& signature) {
  auto key = dkim_key_from_answer(state.answers.at(key_name(signature)), signature, false, false);
  if (auto* problem = std::get_if<DkimCheck>(&key)) {
    return problem->result == DkimResult::temperror ? "temporary: " + problem->reason
                                                    : problem->reason;
  }
  return std::get<DkimVerificationKey>(std::move(key));
}

// RFC 8617 5.2 step 5: the newest AMS over the message as received. Why not, or nullopt.
std::optional<std::string> newest_message_signature_fails(const Validation& state, TimePoint now) {
  const ArcSet& newest = state.chain.sets.back();
  const std::string name = "ARC-Message-Signature i=" + std::to_string(newest.instance) + ": ";
  const DkimSignature& ams = newest.message_signature.signature;
  // RFC 6376 3.5 x=, which the AMS inherits: an expired signature does not verify.
  const int64_t seconds =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (ams.expiration && *ams.expiration < seconds) return name + "signature expired";
  auto key = key_for(state, ams);
  if (auto* reason = std::get_if<std::string>(&key)) return name + *reason;
  const DkimCheck check = check_dkim_signature(ams, newest.fields.message_signature, *state.message,
                                               std::get<DkimVerificationKey>(key).key);
  if (check.result == DkimResult::temperror) return name + "temporary: " + check.reason;
  if (check.result != DkimResult::pass) return name + check.reason;
  return std::nullopt;
}

// RFC 8617 5.1.1 for every seal at once: the SHA-256 of what seal i signs (arc_seal_hash_input
// of sets 1..i) for each i. The inputs share their prefixes, so one running hash is fed each
// field once and copied at every seal: linear in the chain, where hashing each input on its
// own would cost the square of the number of sets. Both ARC algorithms hash with SHA-256
// (rsa-sha1 does not parse, arc_set.h).
std::vector<std::string> seal_digests(const std::vector<ArcSet>& sets) {
  std::vector<std::string> digests;
  DkimDigestStream below(DkimAlgorithm::rsa_sha256);
  for (const ArcSet& set : sets) {
    below.update(
        canonicalize_header(set.fields.authentication_results, DkimCanonicalization::relaxed));
    below.update(canonicalize_header(set.fields.message_signature, DkimCanonicalization::relaxed));
    DkimDigestStream own(below);
    own.update(canonicalize_signature_field(set.fields.seal, DkimCanonicalization::relaxed));
    digests.push_back(own.finish());
    below.update(canonicalize_header(set.fields.seal, DkimCanonicalization::relaxed));
  }
  return digests;
}

// RFC 8617 5.2 step 7: from the newest seal down to instance 1, each over the sets up to
// its own. Why one does not verify, or nullopt.
std::optional<std::string> a_seal_fails(const Validation& state) {
  const std::vector<ArcSet>& sets = state.chain.sets;
  const std::vector<std::string> digests = seal_digests(sets);
  for (size_t i = sets.size(); i-- > 0;) {
    const std::string name = "ARC-Seal i=" + std::to_string(sets[i].instance) + ": ";
    const DkimSignature& seal = sets[i].seal.signature;
    auto key = key_for(state, seal);
    if (auto* reason = std::get_if<std::string>(&key)) return name + *reason;
    if (!verify_dkim_digest(std::get<DkimVerificationKey>(key).key, seal.algorithm, digests[i],
                            seal.signature))
      return name + "signature does not verify";
  }
  return std::nullopt;
}

// RFC 8617 5.2 steps 5 to 8, all keys in hand.
void check_signatures(Validation& state, TimePoint now) {
  std::optional<std::string> failure = newest_message_signature_fails(state, now);
  if (!failure) failure = a_seal_fails(state);
  if (failure) {
    failed(state.verdict, std::move(*failure));
    return;
  }
  state.verdict.result = ArcChainResult::pass;
  state.verdict.reason = std::to_string(state.chain.sets.size()) +
                         " ARC set(s), newest signature and all seals verify";
}

// One lookup per distinct key name (the newest AMS and every seal); the last answer runs the
// checks and calls done.
void look_up_keys(Resolver& resolver, const VerifyExecutor& executor,
                  const std::shared_ptr<Validation>& state, TimePoint now) {
  state->answers.emplace(key_name(state->chain.sets.back().message_signature.signature),
                         DnsAnswer<TxtRecord>{});
  for (const ArcSet& set : state->chain.sets)
    state->answers.emplace(key_name(set.seal.signature), DnsAnswer<TxtRecord>{});
  state->outstanding = state->answers.size();
  // Collected first: with a resolver that answers at once, the last callback runs the checks
  // while a loop over the map would still be walking it.
  std::vector<std::string> names;
  for (const auto& [name, ignored] : state->answers) names.push_back(name);
  for (const std::string& name : names) {
    resolver.lookup_txt(name, [state, name, now, executor](DnsAnswer<TxtRecord> answer) {
      bool last = false;
      {
        std::lock_guard lock(state->mutex);
        state->answers[name] = std::move(answer);
        last = --state->outstanding == 0;
      }
      if (!last) return;
      // The answers arrive on the resolver's thread; the hashing and the public-key
      // operations go to the pool.
      run_verification(executor, [state, now] {
        check_signatures(*state, now);
        state->done(std::move(state->verdict));
      });
    });
  }
}

}  // namespace

ArcVerifier::ArcVerifier(Resolver& resolver, const Clock& clock, VerifyExecutor executor)
    : resolver_(resolver), clock_(clock), executor_(std::move(executor)) {}

void ArcVerifier::verify(const MessageContent& message, std::function<void(ArcVerdict)> done) {
  verify(std::make_shared<const DkimMessage>(message), std::move(done));
}

void ArcVerifier::verify(std::shared_ptr<const DkimMessage> message,
                         std::function<void(ArcVerdict)> done) {
  auto state = std::make_shared<Validation>();
  state->message = std::move(message);
  state->chain = collect_arc_sets(state->message->headers());
  state->done = std::move(done);
  ArcVerdict& verdict = state->verdict;
  verdict.instance = state->chain.highest_instance;

  // RFC 8617 5.2 step 1: no ARC set at all is "none".
  if (!state->chain.any_arc_field) {
    verdict.reason = "no ARC sets";
    return state->done(std::move(verdict));
  }
  // Step 2: a chain whose form is invalid fails.
  if (!state->chain.error.empty()) return state->done(failed(verdict, state->chain.error));
  verdict.sealer_domain = state->chain.sets.back().seal.signature.domain;
  if (!chain_form_holds(state->chain, verdict)) return state->done(std::move(verdict));

  state->message->declare(
      DkimBodyHashKey::of(state->chain.sets.back().message_signature.signature));
  look_up_keys(resolver_, executor_, state, clock_.now());
}

}  // namespace herald
