#include "auth/arc_seal.h"

#include <algorithm>

#include "auth/dkim_body_hash.h"
#include "auth/dkim_sign.h"
#include "mime/header.h"
#include "util/ascii.h"

namespace herald {
namespace {

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ":") + name;
  return out;
}

// The value with its signature put after "b=", which the unsigned value leaves empty.
std::string with_signature(const std::string& unsigned_value, std::string_view signature) {
  std::string value = unsigned_value;
  value.insert(value.find("; b=") + 4, encode_base64(signature));
  return value;
}

}  // namespace

ArcSealer::ArcSealer(DkimPrivateKey key, std::string domain, std::string selector,
                     std::vector<std::string> signed_headers)
    : key_(std::move(key)),
      domain_(ascii_lower(std::move(domain))),
      selector_(ascii_lower(std::move(selector))),
      signed_headers_(std::move(signed_headers)) {}

std::variant<ArcSealer, ArcSealError> ArcSealer::from_pem_file(
    const std::filesystem::path& file, std::string domain, std::string selector,
    std::vector<std::string> signed_headers) {
  return from_key(load_dkim_private_key_file(file), std::move(domain), std::move(selector),
                  std::move(signed_headers));
}

std::variant<ArcSealer, ArcSealError> ArcSealer::from_pem(std::string_view pem, std::string domain,
                                                          std::string selector,
                                                          std::vector<std::string> signed_headers) {
  return from_key(load_dkim_private_key(pem), std::move(domain), std::move(selector),
                  std::move(signed_headers));
}

std::variant<ArcSealer, ArcSealError> ArcSealer::from_key(
    std::variant<DkimPrivateKey, std::string> loaded, std::string domain, std::string selector,
    std::vector<std::string> signed_headers) {
  if (auto* error = std::get_if<std::string>(&loaded)) return ArcSealError{std::move(*error)};
  for (std::string& name : signed_headers) {
    name = ascii_lower(name);
    // RFC 8617 4.1.2: ARC-Seal fields MUST NOT be signed by the AMS.
    if (name == "arc-seal") return ArcSealError{"the AMS must not sign ARC-Seal (RFC 8617 4.1.2)"};
  }
  return ArcSealer(std::get<DkimPrivateKey>(std::move(loaded)), std::move(domain),
                   std::move(selector), std::move(signed_headers));
}

std::variant<std::string, ArcSealError> ArcSealer::seal(const MessageContent& message,
                                                        std::string_view authserv_id,
                                                        std::string_view results,
                                                        ArcChainResult chain, TimePoint now) const {
  const std::vector<DkimHeaderField> headers = split_dkim_message(message.header).headers;
  const ArcChainFields received = collect_arc_sets(headers);
  if (auto refused = refusal(headers, received, chain)) return *refused;

  const SetTags tags{
      std::string(to_string(key_.algorithm)), domain_, selector_,
      std::to_string(received.highest_instance + 1),
      std::to_string(
          std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count())};
  // RFC 8617 4.1.1: the AAR is "i=N; " then an Authentication-Results payload.
  const std::string aar_field = header_field(
      "ARC-Authentication-Results",
      "i=" + tags.instance + "; " + std::string(authserv_id) + "; " + std::string(results));
  auto ams_field = message_signature(headers, *message.body, tags);
  if (auto* error = std::get_if<ArcSealError>(&ams_field)) return *error;

  std::vector<ArcSetFields> covered;
  // RFC 8617 5.1.2: with cv=fail the seal covers only the set that records the failure.
  if (chain != ArcChainResult::fail)
    for (const ArcSet& set : received.sets) covered.push_back(set.fields);
  auto as_field = seal_over(covered, aar_field, std::get<std::string>(ams_field), chain, tags);
  if (auto* error = std::get_if<ArcSealError>(&as_field)) return *error;
  return std::get<std::string>(as_field) + std::get<std::string>(ams_field) + aar_field;
}

std::optional<ArcSealError> ArcSealer::refusal(const std::vector<DkimHeaderField>& headers,
                                               const ArcChainFields& received,
                                               ArcChainResult chain) {
  if (received.highest_instance >= kMaxArcInstance)
    return ArcSealError{"the message already has " + std::to_string(kMaxArcInstance) +
                        " ARC sets (RFC 8617 4.2.1)"};
  // RFC 8617 5.1.2: once a sealer has recorded cv=fail the chain is over; sets added after
  // it could never validate.
  if (received.error.empty() && !received.sets.empty() &&
      received.sets.back().seal.chain == ArcChainResult::fail)
    return ArcSealError{"the newest ARC-Seal already says cv=fail: the chain ended upstream"};
  if (chain != ArcChainResult::fail && !received.error.empty())
    return ArcSealError{"the ARC chain is invalid (" + received.error + "); seal with cv=fail"};
  // RFC 8617 5.1.1: cv=none for the first set only, pass or fail after it.
  if ((chain == ArcChainResult::none) != received.sets.empty() && chain != ArcChainResult::fail)
    return ArcSealError{"cv=" + std::string(to_string(chain)) + " does not fit a message with " +
                        std::to_string(received.sets.size()) + " ARC sets"};
  // RFC 6376 5.4, which the AMS follows: the From field MUST be signed.
  if (std::none_of(headers.begin(), headers.end(), [](const DkimHeaderField& field) {
        return equals_ignoring_ascii_case(field.name, "From");
      }))
    return ArcSealError{"the message has no From field"};
  return std::nullopt;
}

std::variant<std::string, ArcSealError> ArcSealer::message_signature(
    const std::vector<DkimHeaderField>& headers, const MessageBody& body,
    const SetTags& tags) const {
  const std::vector<std::string> signed_headers =
      signed_headers_.empty() ? *dkim_headers_to_sign(headers) : signed_headers_;
  // RFC 8617 4.1.2: a DKIM signature of the message, i= the instance.
  // Streamed from the body's pieces: a forwarded message is not copied to be sealed.
  const std::string body_hash =
      *dkim_body_hash(body, {DkimCanonicalization::relaxed, DkimBodyDigest::sha256, std::nullopt});
  const std::string unsigned_value =
      "a=" + tags.algorithm + "; b=; bh=" + encode_base64(body_hash) +
      "; c=relaxed/relaxed; d=" + tags.domain + "; h=" + join_names(signed_headers) +
      "; i=" + tags.instance + "; s=" + tags.selector + "; t=" + tags.timestamp;
  const std::string unsigned_field = header_field("ARC-Message-Signature", unsigned_value);
  const auto signature = sign_dkim_data(
      key_.key.get(), key_.algorithm,
      dkim_header_hash_input(headers, signed_headers, {"ARC-Message-Signature", unsigned_field},
                             DkimCanonicalization::relaxed));
  if (!signature) return ArcSealError{"OpenSSL could not sign"};
  return header_field("ARC-Message-Signature", with_signature(unsigned_value, *signature));
}

std::variant<std::string, ArcSealError> ArcSealer::seal_over(std::vector<ArcSetFields> covered,
                                                             std::string_view aar_field,
                                                             std::string_view ams_field,
                                                             ArcChainResult chain,
                                                             const SetTags& tags) const {
  // RFC 8617 4.1.3 and 5.1.1: the AS signs the sets in `covered`, then this one.
  const std::string unsigned_value =
      "a=" + tags.algorithm + "; b=; cv=" + std::string(to_string(chain)) + "; d=" + tags.domain +
      "; i=" + tags.instance + "; s=" + tags.selector + "; t=" + tags.timestamp;
  const std::string unsigned_field = header_field("ARC-Seal", unsigned_value);
  covered.push_back({{"ARC-Authentication-Results", aar_field},
                     {"ARC-Message-Signature", ams_field},
                     {"ARC-Seal", unsigned_field}});
  const auto signature =
      sign_dkim_data(key_.key.get(), key_.algorithm, arc_seal_hash_input(covered));
  if (!signature) return ArcSealError{"OpenSSL could not sign"};
  return header_field("ARC-Seal", with_signature(unsigned_value, *signature));
}

}  // namespace herald
