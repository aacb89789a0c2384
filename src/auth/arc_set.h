// The three header fields of an ARC set (RFC 8617 4.1), parsed strictly into typed values,
// the sets of a received message put in instance order (RFC 8617 4.2, 5.2 steps 1-2), and
// the header data an ARC-Seal signs (5.1.1). Pure: no DNS, no clock, no cryptography.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "auth/dkim_canonical.h"
#include "auth/dkim_signature.h"

namespace herald {

// RFC 8617 4.4: the chain validation status, the cv= of an ARC-Seal.
enum class ArcChainResult { none, pass, fail };
std::string_view to_string(ArcChainResult result);

// RFC 8617 4.2.1: instance values run from 1 to 50; a message with more sets fails (5.2).
inline constexpr int kMaxArcInstance = 50;

// ARC-Authentication-Results (4.1.1): "i=" instance ";" then an Authentication-Results
// payload (authserv-id and results), kept as written.
struct ArcAuthenticationResults {
  int instance = 0;
  std::string payload;
};

// ARC-Message-Signature (4.1.2): the tags of a DKIM-Signature, without v=, with i= the
// instance. `signature.identity` is unused.
struct ArcMessageSignature {
  int instance = 0;
  DkimSignature signature;
};

// ARC-Seal (4.1.3): a= b= cv= d= i= s= and optional t=, in `signature`'s fields of the same
// names; no h=, no bh=.
struct ArcSeal {
  int instance = 0;
  ArcChainResult chain = ArcChainResult::none;
  DkimSignature signature;
};

// Parsers of the field values (after the colon). Errors: tag-list syntax (RFC 6376 3.2), a
// missing required tag, i= not 1..50, a= other than rsa-sha256 or ed25519-sha256
// (rsa-sha1 is refused, RFC 8301 3.1), an AMS h= listing ARC-Seal (4.1.2), an AS with h=
// (4.1.3) or a cv= other than none/pass/fail, an AAR not starting "i=N;".
std::variant<ArcAuthenticationResults, DkimSyntaxError> parse_arc_authentication_results(
    std::string_view value);
std::variant<ArcMessageSignature, DkimSyntaxError> parse_arc_message_signature(
    std::string_view value);
std::variant<ArcSeal, DkimSyntaxError> parse_arc_seal(std::string_view value);

// The three fields of one set as they appear in a message (or as a sealer emits them).
struct ArcSetFields {
  DkimHeaderField authentication_results;
  DkimHeaderField message_signature;
  DkimHeaderField seal;
};

struct ArcSet {
  int instance = 0;
  ArcSetFields fields;
  ArcMessageSignature message_signature;
  ArcSeal seal;
};

// The ARC sets of a message. `sets` is complete and in instance order (1 first) only when
// `error` is empty; otherwise `error` says why the form of the chain is invalid (RFC 8617
// 5.2 step 2: a field that does not parse, a set without exactly one of each field, a gap
// in the instances, more than 50 sets). Fields point into the message.
struct ArcChainFields {
  std::vector<ArcSet> sets;
  bool any_arc_field = false;  // false: no ARC field at all, chain validation status none
  int highest_instance = 0;    // highest i= among the fields that parsed
  std::string error;
};
ArcChainFields collect_arc_sets(const std::vector<DkimHeaderField>& headers);

// RFC 8617 5.1.1: what an ARC-Seal signs, relaxed canonicalisation: for each set in
// instance order its AAR, AMS and AS; the last AS (the seal being made or checked) with its
// b= value emptied and without the final CRLF. `sets` must not be empty.
std::string arc_seal_hash_input(const std::vector<ArcSetFields>& sets);

}  // namespace herald
