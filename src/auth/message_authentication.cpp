#include "auth/message_authentication.h"

#include <fmt/format.h>

#include <atomic>
#include <memory>
#include <random>

#include "auth/dkim_message.h"
#include "mime/from_domain.h"
#include "util/ascii.h"

namespace herald {
namespace {

// RFC 7489 6.6.4: the draw a pct= below 100 is compared with.
unsigned percent_sample() {
  thread_local std::mt19937 generator{std::random_device{}()};
  return std::uniform_int_distribution<unsigned>(0, 99)(generator);
}

std::string domain_of_address(const std::string& address) {
  const size_t at = address.rfind('@');
  return at == std::string::npos ? "" : ascii_lower(address.substr(at + 1));
}

DmarcInputs dmarc_inputs(const MessageAuthentication& auth) {
  DmarcInputs inputs;
  inputs.from_domain = auth.from_domain;
  if (auth.spf.outcome.result == SpfResult::pass) inputs.spf_domain = auth.spf.outcome.domain;
  for (const DkimVerdict& verdict : auth.dkim) {
    if (verdict.result == DkimResult::pass) inputs.dkim_domains.push_back(verdict.domain);
  }
  return inputs;
}

void apply_dmarc(MessageAuthentication& auth, const DmarcDiscovery& discovery) {
  switch (discovery.status) {
    case DmarcDiscovery::Status::temperror:
      auth.dmarc_result = DmarcResult::temperror;
      auth.dmarc_reason = discovery.reason;
      return;
    case DmarcDiscovery::Status::none:
      auth.dmarc_result = DmarcResult::none;
      auth.dmarc_reason = discovery.reason;
      return;
    case DmarcDiscovery::Status::found:
      break;
  }
  auth.dmarc_record = discovery.record;
  auth.dmarc = evaluate_dmarc(dmarc_inputs(auth), discovery, percent_sample());
  auth.dmarc_result = auth.dmarc.pass ? DmarcResult::pass : DmarcResult::fail;
}

std::string dmarc_comment(const MessageAuthentication& auth) {
  if (auth.dmarc_result != DmarcResult::pass && auth.dmarc_result != DmarcResult::fail) {
    return auth.dmarc_reason;
  }
  return fmt::format("p={} dis={}", to_string(auth.dmarc.policy),
                     to_string(auth.dmarc.disposition));
}

AuthResult spf_result(const SpfCheck& spf) {
  AuthResult r{"spf", std::string(to_string(spf.outcome.result)), spf.outcome.reason, {}};
  const SpfRequest& request = spf.request;
  if (request.identity == SpfIdentity::mail_from && !request.mail_from.empty()) {
    r.properties.emplace_back("smtp.mailfrom", request.mail_from);
  } else {
    r.properties.emplace_back("smtp.helo", request.helo);
  }
  return r;
}

AuthResult dkim_result(const DkimVerdict& verdict) {
  AuthResult r{"dkim", std::string(to_string(verdict.result)), verdict.reason, {}};
  if (!verdict.domain.empty()) r.properties.emplace_back("header.d", verdict.domain);
  if (!verdict.selector.empty()) r.properties.emplace_back("header.s", verdict.selector);
  if (verdict.algorithm)
    r.properties.emplace_back("header.a", std::string(to_string(*verdict.algorithm)));
  return r;
}

// RFC 8617 10.2 registers no property that names the sealer; the comment does.
AuthResult arc_result(const ArcVerdict& verdict) {
  std::string comment = verdict.reason;
  if (verdict.result == ArcChainResult::pass) {
    comment = fmt::format("i={} d={}", verdict.instance, verdict.sealer_domain);
  }
  return AuthResult{"arc", std::string(to_string(verdict.result)), comment, {}};
}

}  // namespace

std::string_view to_string(DmarcResult result) {
  switch (result) {
    case DmarcResult::none:
      return "none";
    case DmarcResult::pass:
      return "pass";
    case DmarcResult::fail:
      return "fail";
    case DmarcResult::temperror:
      return "temperror";
    case DmarcResult::permerror:
      return "permerror";
  }
  return "none";
}

// DKIM, ARC and (with an executor) the body hashing ahead run side by side; whichever ends
// last goes on to DMARC. The hashing counts: done must not be called while it reads.
struct MessageAuthenticator::Pending {
  MessageAuthentication auth;
  Done done;
  std::atomic<int> outstanding{2};
};

MessageAuthenticator::MessageAuthenticator(Resolver& resolver, const Clock& clock,
                                           MessageAuthenticatorOptions options)
    : resolver_(resolver),
      executor_(options.executor),
      dkim_(resolver, clock, DkimVerifyOptions{.max_signatures = options.max_dkim_signatures},
            options.executor),
      arc_(resolver, clock, options.executor) {}

void MessageAuthenticator::authenticate(const MessageContent& message, SpfCheck spf, Done done) {
  auto pending = std::make_shared<Pending>();
  pending->auth.spf = std::move(spf);
  pending->done = std::move(done);
  if (executor_) pending->outstanding = 3;
  auto from = rfc5322_from_domain(message.header);
  if (auto* domain = std::get_if<std::string>(&from)) {
    pending->auth.from_domain = std::move(*domain);
  } else {
    pending->auth.from_problem = std::get<FromDomainError>(from).reason;
  }
  // One split of the header and one set of body hashes for both verifiers (they declare what
  // they need).
  const auto parsed = std::make_shared<const DkimMessage>(message);
  arc_.verify(parsed, [this, pending](ArcVerdict verdict) {
    pending->auth.arc = std::move(verdict);
    finish(pending);
  });
  // Past the cap, the signatures DMARC could use come first.
  SignaturePreference aligned_first;
  if (!pending->auth.from_domain.empty()) {
    aligned_first = [from = pending->auth.from_domain](const std::string& domain) {
      return aligned(domain, from, DmarcAlignment::relaxed);
    };
  }
  dkim_.verify(
      parsed,
      [this, pending](std::vector<DkimVerdict> verdicts) {
        pending->auth.dkim = std::move(verdicts);
        finish(pending);
      },
      aligned_first);
  if (executor_) {
    // The body's hashes while the key lookups are out; a check whose key comes first waits for
    // them (DkimMessage::body_hash) rather than hashing again.
    run_verification(executor_, [this, pending, parsed] {
      try {
        parsed->compute_declared();
      } catch (const ContentReadError&) {
        // Nothing is lost: each check that needs a hash reads the body again and reports
        // what it finds (dkim_signature_check.h).
      }
      finish(pending);
    });
  }
}

void MessageAuthenticator::finish(const std::shared_ptr<Pending>& pending) {
  if (pending->outstanding.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  MessageAuthentication& auth = pending->auth;
  if (auth.from_domain.empty()) {
    // RFC 7489 6.6.1: without one author domain there is nothing DMARC can judge.
    auth.dmarc_result = DmarcResult::permerror;
    auth.dmarc_reason = auth.from_problem;
    pending->done(std::move(auth));
    return;
  }
  discover_dmarc_policy(resolver_, auth.from_domain, [pending](DmarcDiscovery discovery) {
    apply_dmarc(pending->auth, discovery);
    pending->done(std::move(pending->auth));
  });
}

std::vector<AuthResult> authentication_results(const MessageAuthentication& auth) {
  std::vector<AuthResult> results{spf_result(auth.spf)};
  for (const DkimVerdict& verdict : auth.dkim) results.push_back(dkim_result(verdict));
  results.push_back(arc_result(auth.arc));
  AuthResult dmarc{"dmarc", std::string(to_string(auth.dmarc_result)), dmarc_comment(auth), {}};
  if (!auth.from_domain.empty()) dmarc.properties.emplace_back("header.from", auth.from_domain);
  results.push_back(std::move(dmarc));
  return results;
}

std::vector<std::pair<std::string, std::string>> auth_event_fields(
    const MessageAuthentication& auth) {
  std::vector<std::pair<std::string, std::string>> fields;
  const AuthResult spf = spf_result(auth.spf);
  fields.emplace_back(
      "spf", spf.result + " " + spf.properties.front().first + "=" + spf.properties.front().second);
  for (const DkimVerdict& verdict : auth.dkim) {
    std::string value(to_string(verdict.result));
    if (!verdict.domain.empty()) value += " d=" + verdict.domain + " s=" + verdict.selector;
    fields.emplace_back("dkim", std::move(value));
  }
  if (auth.dkim.empty()) fields.emplace_back("dkim", "none");
  std::string arc(to_string(auth.arc.result));
  if (auth.arc.instance > 0) {
    arc += fmt::format(" i={} d={}", auth.arc.instance, auth.arc.sealer_domain);
  }
  fields.emplace_back("arc", std::move(arc));
  std::string dmarc(to_string(auth.dmarc_result));
  if (!auth.from_domain.empty()) dmarc += " from=" + auth.from_domain;
  if (auth.dmarc_result == DmarcResult::pass || auth.dmarc_result == DmarcResult::fail) {
    dmarc += " " + dmarc_comment(auth);
  }
  fields.emplace_back("dmarc", std::move(dmarc));
  if (verifies_envelope_sender(auth)) fields.emplace_back("sender_verified", "yes");
  return fields;
}

bool verifies_envelope_sender(const MessageAuthentication& auth) {
  const SpfRequest& request = auth.spf.request;
  if (request.mail_from.empty()) return false;
  const std::string sender_domain = domain_of_address(request.mail_from);
  if (request.identity == SpfIdentity::mail_from && auth.spf.outcome.result == SpfResult::pass &&
      ascii_lower(auth.spf.outcome.domain) == sender_domain) {
    return true;
  }
  for (const DkimVerdict& verdict : auth.dkim) {
    if (verdict.result == DkimResult::pass &&
        aligned(verdict.domain, sender_domain, DmarcAlignment::relaxed)) {
      return true;
    }
  }
  return false;
}

}  // namespace herald
