// The two DKIM tag lists (RFC 6376 3.2): the DKIM-Signature field (3.5) and the key record
// published at selector._domainkey.domain (3.6.1), parsed strictly into typed values.
// Pure: no DNS, no clock, no cryptography.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "auth/dkim_tag_list.h"

namespace herald {

enum class DkimAlgorithm { rsa_sha1, rsa_sha256, ed25519_sha256 };
enum class DkimCanonicalization { simple, relaxed };

std::string_view to_string(DkimAlgorithm algorithm);

// The tags of one DKIM-Signature, decoded: base64 values are binary, names lower case.
struct DkimSignature {
  DkimAlgorithm algorithm = DkimAlgorithm::rsa_sha256;                          // a=
  std::string signature;                                                        // b=, binary
  std::string body_hash;                                                        // bh=, binary
  DkimCanonicalization header_canonicalization = DkimCanonicalization::simple;  // c=
  DkimCanonicalization body_canonicalization = DkimCanonicalization::simple;
  std::string domain;                       // d=, lower case
  std::vector<std::string> signed_headers;  // h=, lower case, in order, repeats kept
  std::string identity;                     // i=, decoded; "@" + d when absent (3.5)
  std::optional<uint64_t> body_length;      // l=
  std::string selector;                     // s=, lower case
  std::optional<int64_t> timestamp;         // t=, seconds since the epoch
  std::optional<int64_t> expiration;        // x=
};

// Parses the value of a DKIM-Signature field (everything after the colon, folding allowed).
// Errors: tag-list syntax, a duplicate tag, a missing required tag (v a b bh d h s), v other
// than 1, an unknown a= or c=, q= without dns/txt, h= without From, an i= outside d=,
// malformed numbers, x= not after t=. Unknown tags are ignored (3.2).
std::variant<DkimSignature, DkimSyntaxError> parse_dkim_signature(std::string_view value);

// The tags DKIM-Signature shares with ARC-Message-Signature and ARC-Seal, which RFC 8617
// 4.1.2 and 4.1.3 define by reference to RFC 6376 3.5: a b bh c d h l q s t x, each decoded
// into `out` when present. An empty h= is an empty list. Which tags are required, v= and
// i= differ per field and are the caller's. Errors: as parse_dkim_signature for those tags.
std::optional<DkimSyntaxError> decode_dkim_signature_tags(const DkimTagList& tags,
                                                          DkimSignature& out);

// A key record (RFC 6376 3.6.1; RFC 8463 3 for k=ed25519).
struct DkimKeyRecord {
  enum class KeyType { rsa, ed25519 };
  KeyType key_type = KeyType::rsa;           // k=, rsa when absent
  std::vector<std::string> hash_algorithms;  // h=, empty = any
  std::string public_key;                    // p=, binary; empty = revoked (3.6.1)
  bool testing = false;                      // t=y
  bool strict_identity = false;              // t=s: i= must use d= itself, no subdomain
};

// Parses the TXT record text, already joined (3.6.2.2). Errors: tag-list syntax, a
// duplicate tag, v= not first or not DKIM1, missing p=, p= not base64, an unknown k=, s=
// naming neither "*" nor "email". Unknown tags and flags are ignored.
std::variant<DkimKeyRecord, DkimSyntaxError> parse_dkim_key_record(std::string_view text);

// RFC 4648 4 base64 with whitespace removed first (RFC 6376 3.2 allows FWS in b=, bh=, p=);
// nullopt when not valid base64.
std::optional<std::string> decode_dkim_base64(std::string_view text);
std::string encode_base64(std::string_view bytes);

}  // namespace herald
