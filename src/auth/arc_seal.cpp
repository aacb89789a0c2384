#include "auth/arc_seal.h"

#include <algorithm>

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

std::variant<std::string, ArcSealError> ArcSealer::seal(std::string_view message,
                                                        std::string_view authserv_id,
                                                        std::string_view results,
                                                        ArcChainResult chain, TimePoint now) const {
  const DkimMessageParts parts = split_dkim_message(message);
  const ArcChainFields received = collect_arc_sets(parts.headers);
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

  // RFC 6376 5.4, which the AMS follows: the From field MUST be signed.
  if (std::none_of(parts.headers.begin(), parts.headers.end(), [](const DkimHeaderField& field) {
        return equals_ignoring_ascii_case(field.name, "From");
      }))
    return ArcSealError{"the message has no From field"};
  const std::vector<std::string> signed_headers =
      signed_headers_.empty() ? *dkim_headers_to_sign(parts.headers) : signed_headers_;

  const std::string instance = std::to_string(received.highest_instance + 1);
  const std::string algorithm(to_string(key_.algorithm));
  const int64_t t =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();

  // RFC 8617 4.1.1: the AAR is "i=N; " then an Authentication-Results payload.
  const std::string aar_field =
      header_field("ARC-Authentication-Results",
                   "i=" + instance + "; " + std::string(authserv_id) + "; " + std::string(results));

  // RFC 8617 4.1.2: the AMS is a DKIM signature of the message with i= the instance.
  const std::string body = canonicalize_body(parts.body, DkimCanonicalization::relaxed);
  const std::string ams_unsigned =
      "a=" + algorithm + "; b=; bh=" + encode_base64(dkim_digest(key_.algorithm, body)) +
      "; c=relaxed/relaxed; d=" + domain_ + "; h=" + join_names(signed_headers) +
      "; i=" + instance + "; s=" + selector_ + "; t=" + std::to_string(t);
  const auto ams_signature = sign_dkim_data(
      key_.key.get(), key_.algorithm,
      dkim_header_hash_input(
          parts.headers, signed_headers,
          {"ARC-Message-Signature", header_field("ARC-Message-Signature", ams_unsigned)},
          DkimCanonicalization::relaxed));
  if (!ams_signature) return ArcSealError{"OpenSSL could not sign"};
  const std::string ams_field =
      header_field("ARC-Message-Signature", with_signature(ams_unsigned, *ams_signature));

  // RFC 8617 4.1.3 and 5.1.1: the AS signs every set so far, this one last.
  const std::string as_unsigned = "a=" + algorithm + "; b=; cv=" + std::string(to_string(chain)) +
                                  "; d=" + domain_ + "; i=" + instance + "; s=" + selector_ +
                                  "; t=" + std::to_string(t);
  const std::string as_unsigned_field = header_field("ARC-Seal", as_unsigned);
  std::vector<ArcSetFields> covered;
  // RFC 8617 5.1.2: with cv=fail the seal covers only the set that records the failure.
  if (chain != ArcChainResult::fail)
    for (const ArcSet& set : received.sets) covered.push_back(set.fields);
  covered.push_back({{"ARC-Authentication-Results", aar_field},
                     {"ARC-Message-Signature", ams_field},
                     {"ARC-Seal", as_unsigned_field}});
  const auto as_signature =
      sign_dkim_data(key_.key.get(), key_.algorithm, arc_seal_hash_input(covered));
  if (!as_signature) return ArcSealError{"OpenSSL could not sign"};
  return header_field("ARC-Seal", with_signature(as_unsigned, *as_signature)) + ams_field +
         aar_field;
}

}  // namespace herald
