#include "auth/arc_set.h"

#include <algorithm>
#include <charconv>
#include <optional>

#include "util/ascii.h"

namespace herald {
namespace {

enum class ArcField { authentication_results, message_signature, seal };

std::optional<ArcField> arc_field_kind(std::string_view name) {
  if (equals_ignoring_ascii_case(name, "ARC-Authentication-Results"))
    return ArcField::authentication_results;
  if (equals_ignoring_ascii_case(name, "ARC-Message-Signature")) return ArcField::message_signature;
  if (equals_ignoring_ascii_case(name, "ARC-Seal")) return ArcField::seal;
  return std::nullopt;
}

// Far above any real field (a 4096-bit RSA b= is 684 characters); only bounds the work.
constexpr size_t kMaxArcFieldBytes = 16 * 1024;

std::string_view field_value(std::string_view raw) {
  const auto colon = raw.find(':');
  return colon == std::string_view::npos ? std::string_view() : raw.substr(colon + 1);
}

// RFC 8617 4.2.1: i-value = 1*2DIGIT, from 1 to 50.
std::optional<int> parse_instance(std::string_view text) {
  if (text.empty() || text.size() > 2) return std::nullopt;
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text[0] == '-' ||
      text[0] == '+' || value < 1 || value > kMaxArcInstance)
    return std::nullopt;
  return value;
}

std::optional<DkimSyntaxError> require_tags(const DkimTagList& tags,
                                            std::initializer_list<const char*> names) {
  for (const char* name : names)
    if (find_dkim_tag(tags, name) == nullptr)
      return DkimSyntaxError{std::string("missing required tag ") + name + "="};
  return std::nullopt;
}

// The a b d s (and for the AMS bh c h) tags shared with DKIM, and the ARC rules on top.
std::optional<DkimSyntaxError> decode_signature(const DkimTagList& tags, int& instance,
                                                DkimSignature& signature) {
  const auto parsed_instance = parse_instance(*find_dkim_tag(tags, "i"));
  if (!parsed_instance) return DkimSyntaxError{"i= is not an instance from 1 to 50"};
  instance = *parsed_instance;
  if (auto error = decode_dkim_signature_tags(tags, signature)) return error;
  // RFC 8301 3.1: rsa-sha1 MUST NOT be used; RFC 8617 inherits DKIM's algorithms.
  if (signature.algorithm == DkimAlgorithm::rsa_sha1)
    return DkimSyntaxError{"rsa-sha1 is not accepted (RFC 8301)"};
  return std::nullopt;
}

// One parsed field handed to `keep`; its instance, or why it did not parse.
template <class Parsed, class Keep>
std::variant<int, std::string> file_field(std::variant<Parsed, DkimSyntaxError> parsed, Keep keep) {
  if (auto* error = std::get_if<DkimSyntaxError>(&parsed)) return std::move(error->reason);
  const int instance = std::get<Parsed>(parsed).instance;
  keep(std::get<Parsed>(std::move(parsed)));
  return instance;
}

}  // namespace

std::string_view to_string(ArcChainResult result) {
  switch (result) {
    case ArcChainResult::none:
      return "none";
    case ArcChainResult::pass:
      return "pass";
    case ArcChainResult::fail:
      return "fail";
  }
  return "fail";
}

std::variant<ArcAuthenticationResults, DkimSyntaxError> parse_arc_authentication_results(
    std::string_view value) {
  // RFC 8617 4.1.1: arc-info = instance [CFWS] ";" authres-payload, instance = [CFWS] "i"
  // [CFWS] "=" [CFWS] i-value. Comments before the instance are not supported.
  const auto semicolon = value.find(';');
  if (semicolon == std::string_view::npos) return DkimSyntaxError{"no ';' after i="};
  auto instance_tag = parse_dkim_tag_list(value.substr(0, semicolon));
  const auto* tags = std::get_if<DkimTagList>(&instance_tag);
  if (tags == nullptr || tags->size() != 1 || tags->front().first != "i")
    return DkimSyntaxError{"no i= before the first ';'"};
  const auto instance = parse_instance(tags->front().second);
  if (!instance) return DkimSyntaxError{"i= is not an instance from 1 to 50"};
  std::string_view payload = value.substr(semicolon + 1);
  while (!payload.empty() && is_dkim_fws(payload.front())) payload.remove_prefix(1);
  return ArcAuthenticationResults{*instance, std::string(payload)};
}

std::variant<ArcMessageSignature, DkimSyntaxError> parse_arc_message_signature(
    std::string_view value) {
  auto parsed = parse_dkim_tag_list(value);
  if (auto* error = std::get_if<DkimSyntaxError>(&parsed)) return *error;
  const DkimTagList& tags = std::get<DkimTagList>(parsed);
  // RFC 8617 4.1.2: the DKIM-Signature tags, i= the instance; c= and t= are optional.
  if (auto error = require_tags(tags, {"i", "a", "b", "bh", "d", "h", "s"})) return *error;
  ArcMessageSignature ams;
  if (auto error = decode_signature(tags, ams.instance, ams.signature)) return *error;
  // RFC 8617 4.1.2: ARC-Seal fields MUST NOT be signed by the AMS.
  if (std::find(ams.signature.signed_headers.begin(), ams.signature.signed_headers.end(),
                "arc-seal") != ams.signature.signed_headers.end())
    return DkimSyntaxError{"h= includes ARC-Seal"};
  return ams;
}

std::variant<ArcSeal, DkimSyntaxError> parse_arc_seal(std::string_view value) {
  auto parsed = parse_dkim_tag_list(value);
  if (auto* error = std::get_if<DkimSyntaxError>(&parsed)) return *error;
  const DkimTagList& tags = std::get<DkimTagList>(parsed);
  if (auto error = require_tags(tags, {"i", "a", "b", "cv", "d", "s"})) return *error;
  // RFC 8617 4.1.3: the seal covers the ARC fields only; an h= tag makes it invalid.
  if (find_dkim_tag(tags, "h") != nullptr)
    return DkimSyntaxError{"h= is not allowed (RFC 8617 4.1.3)"};
  ArcSeal seal;
  if (auto error = decode_signature(tags, seal.instance, seal.signature)) return *error;
  // RFC 8617 4.1.3: the AS is always relaxed (its c= is not a tag).
  seal.signature.header_canonicalization = DkimCanonicalization::relaxed;
  const std::string& cv = *find_dkim_tag(tags, "cv");
  if (cv == "none") {
    seal.chain = ArcChainResult::none;
  } else if (cv == "pass") {
    seal.chain = ArcChainResult::pass;
  } else if (cv == "fail") {
    seal.chain = ArcChainResult::fail;
  } else {
    return DkimSyntaxError{"unknown cv=" + cv};
  }
  return seal;
}

ArcChainFields collect_arc_sets(const std::vector<DkimHeaderField>& headers) {
  ArcChainFields chain;
  // By instance (0 unused): the fields seen, so that a missing or doubled one shows.
  struct Slot {
    std::vector<const DkimHeaderField*> aar, ams, as;
    ArcMessageSignature message_signature;
    ArcSeal seal;
  };
  std::vector<Slot> slots(kMaxArcInstance + 1);
  size_t arc_fields = 0;
  for (const DkimHeaderField& field : headers) {
    const auto kind = arc_field_kind(field.name);
    if (!kind) continue;
    chain.any_arc_field = true;
    // Bounds on work: 50 sets of three fields, each of a sane size, are all a chain can be.
    if (++arc_fields > 3 * kMaxArcInstance) {
      chain.error = "more than " + std::to_string(3 * kMaxArcInstance) + " ARC fields";
      return chain;
    }
    if (field.raw.size() > kMaxArcFieldBytes) {
      chain.error = std::string(field.name) + " is longer than " +
                    std::to_string(kMaxArcFieldBytes) + " bytes";
      return chain;
    }
    const std::string_view value = field_value(field.raw);
    std::variant<int, std::string> filed;
    switch (*kind) {
      case ArcField::authentication_results:
        filed = file_field(
            parse_arc_authentication_results(value),
            [&](ArcAuthenticationResults aar) { slots[aar.instance].aar.push_back(&field); });
        break;
      case ArcField::message_signature:
        filed = file_field(parse_arc_message_signature(value), [&](ArcMessageSignature ams) {
          slots[ams.instance].ams.push_back(&field);
          slots[ams.instance].message_signature = std::move(ams);
        });
        break;
      case ArcField::seal:
        filed = file_field(parse_arc_seal(value), [&](ArcSeal as) {
          slots[as.instance].as.push_back(&field);
          slots[as.instance].seal = std::move(as);
        });
        break;
    }
    if (const int* instance = std::get_if<int>(&filed)) {
      chain.highest_instance = std::max(chain.highest_instance, *instance);
    } else if (chain.error.empty()) {
      chain.error = std::string(field.name) + ": " + std::get<std::string>(filed);
    }
  }
  if (!chain.error.empty() || !chain.any_arc_field) return chain;

  // RFC 8617 5.2 step 2 and 4.2.1: sets 1..N, each with exactly one of each field.
  for (int i = 1; i <= chain.highest_instance; ++i) {
    Slot& slot = slots[i];
    if (slot.aar.size() != 1 || slot.ams.size() != 1 || slot.as.size() != 1) {
      chain.error = "ARC set " + std::to_string(i) +
                    " does not have exactly one ARC-Authentication-Results, "
                    "ARC-Message-Signature and ARC-Seal";
      chain.sets.clear();
      return chain;
    }
    chain.sets.push_back(ArcSet{i,
                                {*slot.aar.front(), *slot.ams.front(), *slot.as.front()},
                                std::move(slot.message_signature),
                                std::move(slot.seal)});
  }
  return chain;
}

std::string arc_seal_hash_input(const std::vector<ArcSetFields>& sets) {
  std::string out;
  for (size_t i = 0; i < sets.size(); ++i) {
    out += canonicalize_header(sets[i].authentication_results, DkimCanonicalization::relaxed);
    out += canonicalize_header(sets[i].message_signature, DkimCanonicalization::relaxed);
    if (i + 1 < sets.size()) {
      out += canonicalize_header(sets[i].seal, DkimCanonicalization::relaxed);
    } else {
      out += canonicalize_signature_field(sets[i].seal, DkimCanonicalization::relaxed);
    }
  }
  return out;
}

}  // namespace herald
