#include "auth/srs.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>

#include "util/ascii.h"

namespace herald {
namespace {

// base32 characters of HMAC-SHA256: 40 bits. Base32 has no case, so comparing without case
// (as hops that fold local parts need) loses nothing; libsrs2's 4 base64 characters compared so
// kept about 21 bits, within reach of a forger with a few million RCPTs.
constexpr size_t kHashLength = 8;
constexpr int kStampSlots = 1024;     // 2 base32 characters of 5 bits
constexpr size_t kMaxLocalPart = 64;  // RFC 5321 4.5.3.1.1
constexpr std::string_view kBase32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";  // RFC 4648 6

int64_t days_since_epoch(TimePoint t) {
  return std::chrono::floor<std::chrono::days>(t).time_since_epoch().count();
}

std::string timestamp(TimePoint now) {
  const auto slot = static_cast<size_t>(days_since_epoch(now) % kStampSlots);
  return {kBase32[(slot >> 5) & 31], kBase32[slot & 31]};
}

// The day slot a timestamp names; nullopt when it is not 2 base32 characters (any case).
std::optional<int> parse_timestamp(std::string_view text) {
  if (text.size() != 2) return std::nullopt;
  int slot = 0;
  for (char c : text) {
    const size_t value =
        kBase32.find(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    if (value == std::string_view::npos) return std::nullopt;
    slot = slot * 32 + static_cast<int>(value);
  }
  return slot;
}

// "SRS0" or "SRS1" (any case) and a separator: the tag's digit, or nullopt.
std::optional<char> srs_tag(std::string_view local) {
  if (local.size() < 5 || !equals_ignoring_ascii_case(local.substr(0, 3), "SRS"))
    return std::nullopt;
  if (local[3] != '0' && local[3] != '1') return std::nullopt;
  if (local[4] != '=' && local[4] != '+' && local[4] != '-') return std::nullopt;
  return local[3];
}

// Splits `text` at its first '=' into the part before and after; nullopt without one or with
// an empty part before it.
std::optional<std::pair<std::string_view, std::string_view>> split_field(std::string_view text) {
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) return std::nullopt;
  return std::pair{text.substr(0, eq), text.substr(eq + 1)};
}

struct AddressParts {
  std::string_view local;
  std::string_view domain;
};

std::optional<AddressParts> split_address(std::string_view address) {
  const size_t at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) return std::nullopt;
  return AddressParts{address.substr(0, at), address.substr(at + 1)};
}

// Shevek 3.3, as libsrs2: the fields are lower-cased before hashing, so a hop that folds the
// case of a local part does not break the address.
std::string srs_hash(std::string_view secret, std::initializer_list<std::string_view> fields) {
  std::string data;
  for (std::string_view field : fields) data += ascii_lower(field);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &length);
  // RFC 4648 6: five bits a character, from the first octets of the digest.
  std::string hash;
  uint64_t bits = 0;
  for (size_t i = 0; i < 5; ++i) bits = bits << 8 | digest[i];
  for (size_t i = 0; i < kHashLength; ++i) hash += kBase32[(bits >> (35 - 5 * i)) & 31];
  return hash;
}

}  // namespace

SenderRewriting::SenderRewriting(std::string domain, std::string secret,
                                 std::vector<std::string> previous_secrets,
                                 std::chrono::seconds max_age)
    : domain_(ascii_lower(domain)),
      secret_(std::move(secret)),
      previous_secrets_(std::move(previous_secrets)),
      max_age_days_(static_cast<int>(std::chrono::floor<std::chrono::days>(max_age).count())) {}

SrsForward SenderRewriting::forward(std::string_view sender, TimePoint now) const {
  SrsForward result{std::string(sender), false, ""};
  if (sender.empty()) return result;
  const std::optional<AddressParts> parts = split_address(sender);
  if (!parts) {
    result.kept_because = "the sender is not local@domain";
    return result;
  }
  const std::string domain = ascii_lower(parts->domain);
  if (domain == domain_) return result;
  const std::string local = srs_local_part(parts->local, domain, now);
  if (local.size() > kMaxLocalPart) {
    result.kept_because =
        fmt::format("the SRS local part would be {} octets, over the {} of RFC 5321 4.5.3.1.1",
                    local.size(), kMaxLocalPart);
    return result;
  }
  return SrsForward{local + "@" + domain_, true, ""};
}

std::string SenderRewriting::srs_local_part(std::string_view local, const std::string& domain,
                                            TimePoint now) const {
  const std::optional<char> tag = srs_tag(local);
  if (tag == '0') {
    // Shevek 4.2: SRS1 keeps the first forwarder and its opaque part, so the bounce passes
    // through that forwarder, which alone can check its own hash and timestamp.
    const std::string_view opaque = local.substr(4);
    return fmt::format("SRS1={}={}={}", srs_hash(secret_, {domain, opaque}), domain, opaque);
  }
  if (tag == '1') {
    // Already SRS1: only the hash is ours; the first forwarder and its part travel on.
    const auto first = split_field(local.substr(5));
    if (const auto second = first ? split_field(first->second) : std::nullopt) {
      const auto [host, opaque] = *second;
      return fmt::format("SRS1={}={}={}", srs_hash(secret_, {host, opaque}), host, opaque);
    }
  }
  const std::string stamp = timestamp(now);
  return fmt::format("SRS0={}={}={}={}", srs_hash(secret_, {stamp, domain, local}), stamp, domain,
                     local);
}

bool SenderRewriting::claims(std::string_view address) const {
  const std::optional<AddressParts> parts = split_address(address);
  return parts && ascii_lower(parts->domain) == domain_ && srs_tag(parts->local);
}

SrsReverse SenderRewriting::reverse(std::string_view address, TimePoint now) const {
  if (!claims(address)) return SrsReverse{};
  const std::string_view local = split_address(address)->local;
  return srs_tag(local) == '1' ? reverse_srs1(local.substr(5)) : reverse_srs0(local.substr(5), now);
}

// HHHH=TT=domain=local, the local part being the rest, '=' and all.
SrsReverse SenderRewriting::reverse_srs0(std::string_view body, TimePoint now) const {
  const auto hash_field = split_field(body);
  const auto stamp_field = hash_field ? split_field(hash_field->second) : std::nullopt;
  const auto domain_field = stamp_field ? split_field(stamp_field->second) : std::nullopt;
  const std::optional<int> stamp = stamp_field ? parse_timestamp(stamp_field->first) : std::nullopt;
  if (!domain_field || domain_field->second.empty() || !stamp) return SrsReverse{};
  const auto [domain, user] = *domain_field;
  if (!hash_matches(hash_field->first, {stamp_field->first, domain, user}))
    return SrsReverse{SrsReverse::Verdict::bad_hash, ""};
  // Days modulo 1024: a stamp from the future reads as very old, and is refused with them.
  const int today = static_cast<int>(days_since_epoch(now) % kStampSlots);
  const int age = (today - *stamp + kStampSlots) % kStampSlots;
  if (age > max_age_days_) return SrsReverse{SrsReverse::Verdict::expired, ""};
  return SrsReverse{SrsReverse::Verdict::valid, std::string(user) + "@" + std::string(domain)};
}

// HHHH=first.forwarder==opaque: back to the first forwarder's SRS0 address; that forwarder
// checks its own hash and age.
SrsReverse SenderRewriting::reverse_srs1(std::string_view body) const {
  const auto first = split_field(body);
  const auto second = first ? split_field(first->second) : std::nullopt;
  if (!second || second->second.empty()) return SrsReverse{};
  const auto [host, opaque] = *second;
  if (!hash_matches(first->first, {host, opaque}))
    return SrsReverse{SrsReverse::Verdict::bad_hash, ""};
  return SrsReverse{SrsReverse::Verdict::valid,
                    "SRS0" + std::string(opaque) + "@" + std::string(host)};
}

// Case-insensitive, as libsrs2 compares: some MTAs fold the case of local parts.
bool SenderRewriting::hash_matches(std::string_view given,
                                   std::initializer_list<std::string_view> fields) const {
  const std::string folded = ascii_lower(given);
  const auto matches = [&](const std::string& secret) {
    const std::string expected = ascii_lower(srs_hash(secret, fields));
    return folded.size() == expected.size() &&
           CRYPTO_memcmp(folded.data(), expected.data(), expected.size()) == 0;
  };
  return matches(secret_) ||
         std::any_of(previous_secrets_.begin(), previous_secrets_.end(), matches);
}

}  // namespace herald
