#include "auth/dkim_signature.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "util/ascii.h"

namespace herald {
namespace {

std::string strip_whitespace(std::string_view s) {
  std::string out;
  for (char c : s)
    if (!is_dkim_fws(c)) out += c;
  return out;
}

template <class Number>
std::optional<Number> parse_digits(std::string_view text, size_t max_digits) {
  if (text.empty() || text.size() > max_digits) return std::nullopt;
  Number n{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (error != std::errc() || end != text.data() + text.size() || text[0] == '-' || text[0] == '+')
    return std::nullopt;
  return n;
}

// RFC 6376 2.11 dkim-quoted-printable: "=XX" hex escapes, whitespace ignored.
std::optional<std::string> decode_dkim_quoted_printable(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (is_dkim_fws(text[i])) continue;
    if (text[i] != '=') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const auto hex = text.substr(i + 1, 2);
    unsigned value = 0;
    const auto [end, error] = std::from_chars(hex.data(), hex.data() + hex.size(), value, 16);
    if (error != std::errc() || end != hex.data() + 2) return std::nullopt;
    out += static_cast<char>(value);
    i += 2;
  }
  return out;
}

std::optional<DkimAlgorithm> parse_algorithm(std::string_view a) {
  if (a == "rsa-sha256") return DkimAlgorithm::rsa_sha256;
  if (a == "ed25519-sha256") return DkimAlgorithm::ed25519_sha256;  // RFC 8463 3
  if (a == "rsa-sha1") return DkimAlgorithm::rsa_sha1;  // parsed so RFC 8301 can refuse it
  return std::nullopt;
}

std::optional<DkimCanonicalization> parse_canonicalization(std::string_view c) {
  if (c == "simple") return DkimCanonicalization::simple;
  if (c == "relaxed") return DkimCanonicalization::relaxed;
  return std::nullopt;
}

// i= must be d= or a subdomain of it (RFC 6376 3.5, i= tag).
bool within_domain(std::string_view identity_domain, std::string_view domain) {
  if (identity_domain == domain) return true;
  return identity_domain.size() > domain.size() && identity_domain.ends_with(domain) &&
         identity_domain[identity_domain.size() - domain.size() - 1] == '.';
}

}  // namespace

std::string_view to_string(DkimAlgorithm algorithm) {
  switch (algorithm) {
    case DkimAlgorithm::rsa_sha1:
      return "rsa-sha1";
    case DkimAlgorithm::rsa_sha256:
      return "rsa-sha256";
    case DkimAlgorithm::ed25519_sha256:
      return "ed25519-sha256";
  }
  return "unknown";
}

std::optional<std::string> decode_dkim_base64(std::string_view text) {
  const std::string compact = strip_whitespace(text);
  if (compact.size() % 4 != 0) return std::nullopt;
  size_t padding = 0;
  for (size_t i = 0; i < compact.size(); ++i) {
    const char c = compact[i];
    if (c == '=') {
      ++padding;
      if (i + 2 < compact.size()) return std::nullopt;
    } else if (padding > 0 ||
               !(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/')) {
      return std::nullopt;
    }
  }
  std::string out(compact.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(compact.data()),
                                static_cast<int>(compact.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

std::string encode_base64(std::string_view bytes) {
  std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<DkimSyntaxError> decode_dkim_signature_tags(const DkimTagList& tags,
                                                          DkimSignature& sig) {
  if (const auto* a = find_dkim_tag(tags, "a")) {
    const auto algorithm = parse_algorithm(*a);
    if (!algorithm) return DkimSyntaxError{"unsupported algorithm a=" + *a};
    sig.algorithm = *algorithm;
  }
  if (const auto* b = find_dkim_tag(tags, "b")) {
    auto decoded = decode_dkim_base64(*b);
    if (!decoded || decoded->empty()) return DkimSyntaxError{"b= is not base64"};
    sig.signature = std::move(*decoded);
  }
  if (const auto* bh = find_dkim_tag(tags, "bh")) {
    auto decoded = decode_dkim_base64(*bh);
    if (!decoded || decoded->empty()) return DkimSyntaxError{"bh= is not base64"};
    sig.body_hash = std::move(*decoded);
  }

  // RFC 6376 3.5 c=: "header/body"; a lone value names the header algorithm, body simple.
  if (const auto* c = find_dkim_tag(tags, "c")) {
    const auto slash = c->find('/');
    const auto header = parse_canonicalization(std::string_view(*c).substr(0, slash));
    const auto body = slash == std::string::npos
                          ? std::optional(DkimCanonicalization::simple)
                          : parse_canonicalization(std::string_view(*c).substr(slash + 1));
    if (!header || !body) return DkimSyntaxError{"unsupported canonicalization c=" + *c};
    sig.header_canonicalization = *header;
    sig.body_canonicalization = *body;
  }

  if (const auto* d = find_dkim_tag(tags, "d")) {
    sig.domain = ascii_lower(*d);
    if (sig.domain.empty()) return DkimSyntaxError{"empty d="};
  }
  if (const auto* s = find_dkim_tag(tags, "s")) {
    sig.selector = ascii_lower(*s);
    if (sig.selector.empty()) return DkimSyntaxError{"empty s="};
  }

  if (const auto* h = find_dkim_tag(tags, "h"); h != nullptr && !h->empty()) {
    for (std::string_view name : split_dkim_tag_value(*h, ':')) {
      if (name.empty()) return DkimSyntaxError{"empty header name in h="};
      sig.signed_headers.push_back(ascii_lower(name));
    }
  }

  // RFC 6376 3.5 q=: "dns/txt" is the only defined method, and the one we use.
  if (const auto* q = find_dkim_tag(tags, "q")) {
    const auto methods = split_dkim_tag_value(*q, ':');
    if (std::find(methods.begin(), methods.end(), "dns/txt") == methods.end())
      return DkimSyntaxError{"unsupported query method q=" + *q};
  }

  // RFC 6376 3.5: l= up to 76 digits, t= and x= up to 12.
  if (const auto* l = find_dkim_tag(tags, "l")) {
    sig.body_length = parse_digits<uint64_t>(*l, 76);
    if (!sig.body_length) return DkimSyntaxError{"l= is not a number"};
  }
  if (const auto* t = find_dkim_tag(tags, "t")) {
    sig.timestamp = parse_digits<int64_t>(*t, 12);
    if (!sig.timestamp) return DkimSyntaxError{"t= is not a number"};
  }
  if (const auto* x = find_dkim_tag(tags, "x")) {
    sig.expiration = parse_digits<int64_t>(*x, 12);
    if (!sig.expiration) return DkimSyntaxError{"x= is not a number"};
    // RFC 6376 3.5 x=: "MUST be greater than the value of the t= tag if both are present".
    if (sig.timestamp && *sig.expiration <= *sig.timestamp)
      return DkimSyntaxError{"x= is not after t="};
  }
  return std::nullopt;
}

std::variant<DkimSignature, DkimSyntaxError> parse_dkim_signature(std::string_view value) {
  auto parsed = parse_dkim_tag_list(value);
  if (auto* error = std::get_if<DkimSyntaxError>(&parsed)) return *error;
  const DkimTagList& tags = std::get<DkimTagList>(parsed);

  // RFC 6376 6.1.1: a signature missing a required tag is ignored as PERMFAIL.
  for (const char* required : {"v", "a", "b", "bh", "d", "h", "s"})
    if (find_dkim_tag(tags, required) == nullptr)
      return DkimSyntaxError{std::string("missing required tag ") + required + "="};

  // RFC 6376 3.5 v=: only "1" is defined; other versions are not ours to verify.
  if (*find_dkim_tag(tags, "v") != "1")
    return DkimSyntaxError{"unsupported version v=" + *find_dkim_tag(tags, "v")};

  DkimSignature sig;
  if (auto error = decode_dkim_signature_tags(tags, sig)) return *error;

  // RFC 6376 5.4 and 6.1.1: the From field MUST be signed.
  if (std::find(sig.signed_headers.begin(), sig.signed_headers.end(), "from") ==
      sig.signed_headers.end())
    return DkimSyntaxError{"h= does not include From"};

  // RFC 6376 3.5 i=: defaults to "@" + d=; its domain must be d= or below it.
  if (const auto* i = find_dkim_tag(tags, "i")) {
    auto identity = decode_dkim_quoted_printable(*i);
    if (!identity) return DkimSyntaxError{"i= is not dkim-quoted-printable"};
    const auto at = identity->rfind('@');
    if (at == std::string::npos) return DkimSyntaxError{"i= has no '@'"};
    if (!within_domain(ascii_lower(std::string_view(*identity).substr(at + 1)), sig.domain))
      return DkimSyntaxError{"i= domain is not d= or a subdomain of it"};
    sig.identity = std::move(*identity);
  } else {
    sig.identity = "@" + sig.domain;
  }
  return sig;
}

std::variant<DkimKeyRecord, DkimSyntaxError> parse_dkim_key_record(std::string_view text) {
  auto parsed = parse_dkim_tag_list(text);
  if (auto* error = std::get_if<DkimSyntaxError>(&parsed)) return *error;
  const DkimTagList& tags = std::get<DkimTagList>(parsed);

  DkimKeyRecord key;
  // RFC 6376 3.6.1 v=: if present it MUST be the first tag and MUST be "DKIM1".
  if (const auto* v = find_dkim_tag(tags, "v")) {
    if (tags.front().first != "v") return DkimSyntaxError{"v= is not the first tag"};
    if (*v != "DKIM1") return DkimSyntaxError{"unsupported key record version v=" + *v};
  }
  if (const auto* k = find_dkim_tag(tags, "k")) {
    if (*k == "rsa") {
      key.key_type = DkimKeyRecord::KeyType::rsa;
    } else if (*k == "ed25519") {  // RFC 8463 4
      key.key_type = DkimKeyRecord::KeyType::ed25519;
    } else {
      return DkimSyntaxError{"unsupported key type k=" + *k};
    }
  }
  if (const auto* h = find_dkim_tag(tags, "h"))
    for (std::string_view hash : split_dkim_tag_value(*h, ':'))
      key.hash_algorithms.push_back(ascii_lower(hash));
  // RFC 6376 3.6.1 s=: "*" or "email" makes the key usable for mail; others are not ours.
  if (const auto* s = find_dkim_tag(tags, "s")) {
    const auto services = split_dkim_tag_value(*s, ':');
    if (std::find(services.begin(), services.end(), "*") == services.end() &&
        std::find(services.begin(), services.end(), "email") == services.end())
      return DkimSyntaxError{"key is not for email (s=" + *s + ")"};
  }
  // RFC 6376 3.6.1 t=: colon-separated flags; unknown flags MUST be ignored.
  if (const auto* t = find_dkim_tag(tags, "t")) {
    for (std::string_view flag : split_dkim_tag_value(*t, ':')) {
      if (flag == "y") key.testing = true;
      if (flag == "s") key.strict_identity = true;
    }
  }
  const auto* p = find_dkim_tag(tags, "p");
  if (p == nullptr) return DkimSyntaxError{"key record has no p="};
  auto public_key = decode_dkim_base64(*p);
  if (!public_key) return DkimSyntaxError{"p= is not base64"};
  key.public_key = std::move(*public_key);
  return key;
}

}  // namespace herald
