// An SPF record (RFC 7208) parsed into terms: which mechanisms, in which order, with which
// qualifiers, and the redirect= and exp= modifiers. Parsing is pure and strict: a record
// that breaks the grammar of RFC 7208 12 is rejected whole, because RFC 7208 4.6 makes
// any syntax error anywhere a permerror before a single term is evaluated.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace herald {

// RFC 7208 4.6.2: the result a matching mechanism gives.
enum class SpfQualifier { pass, fail, softfail, neutral };

enum class SpfMechanismKind { all, include, a, mx, ptr, ip4, ip6, exists };

struct SpfMechanism {
  SpfQualifier qualifier = SpfQualifier::pass;
  SpfMechanismKind kind = SpfMechanismKind::all;
  // An unexpanded macro-string (RFC 7208 7.1); empty for all, ip4, ip6, and for a, mx and
  // ptr when they name no domain (the current domain is then meant).
  std::string domain_spec;
  // ip4 and ip6: the network address as written ("192.0.2.0", "2001:db8::").
  std::string network;
  // Prefix lengths (RFC 7208 5.6); the defaults mean "the whole address".
  int ip4_prefix = 32;
  int ip6_prefix = 128;
  bool operator==(const SpfMechanism&) const = default;
};

struct SpfRecord {
  std::vector<SpfMechanism> mechanisms;    // in record order, which is evaluation order
  std::optional<std::string> redirect;     // RFC 7208 6.1, an unexpanded domain-spec
  std::optional<std::string> explanation;  // RFC 7208 6.2 (exp=), an unexpanded domain-spec
};

// Why a record was refused, for the Received-SPF comment and logs.
struct SpfSyntaxError {
  std::string reason;
};

// RFC 7208 4.5: whether a TXT record (its strings already joined, RFC 7208 3.3) is an SPF
// record at all: "v=spf1" in any case, then a space or the end.
bool is_spf_record(std::string_view text);

// Parses a record for which is_spf_record() holds. Non-ASCII bytes, unknown mechanisms,
// malformed domain-specs, macros or CIDR lengths, and a repeated redirect= or exp= are
// syntax errors. Unknown modifiers are checked for syntax and then ignored (RFC 7208 6).
std::variant<SpfRecord, SpfSyntaxError> parse_spf_record(std::string_view text);

// RFC 7208 7.1: whether `text` is a valid macro-string. The c, r and t letters are
// allowed only in explanation text (RFC 7208 7.2), hence `explanation`.
bool is_valid_macro_string(std::string_view text, bool explanation);

}  // namespace herald
