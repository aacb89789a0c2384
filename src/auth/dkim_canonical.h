// DKIM canonicalisation (RFC 6376 3.4): the exact bytes that the header hash and the body
// hash are computed over, for the "simple" and "relaxed" algorithms. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/dkim_signature.h"

namespace herald {

// One header field as it appears in the message: `name` as written, `raw` the whole field
// from the first character of its name through its final CRLF, folding included.
struct DkimHeaderField {
  std::string_view name;
  std::string_view raw;
};

// A CRLF message split at the first empty line (RFC 5322 2.1). `headers` point into the
// message, which must outlive the result. A message without an empty line is all header.
// Given a header section alone (MessageContent::header), it gives its fields and no body.
struct DkimMessageParts {
  std::vector<DkimHeaderField> headers;
  std::string_view body;
};
DkimMessageParts split_dkim_message(std::string_view message);

// RFC 6376 3.4.1 / 3.4.2: one field, canonicalised, ending in CRLF.
std::string canonicalize_header(const DkimHeaderField& field, DkimCanonicalization how);

// RFC 6376 3.4.3 / 3.4.4: the whole body canonicalised. Simple turns an empty body into one
// CRLF; relaxed leaves it empty. The plain reference form, as a string: herald's signers and
// verifiers hash the body streamed instead (dkim_body_hash.h), and the tests hold that to this.
std::string canonicalize_body(std::string_view body, DkimCanonicalization how);

// The canonical header data that the signature covers (RFC 6376 3.7 and 5.4.2): for each
// name in `signed_headers`, the last not yet used field of that name (case-insensitive),
// taken from the bottom up; a name with no field left contributes nothing. Then
// canonicalize_signature_field(signature_field).
std::string dkim_header_hash_input(const std::vector<DkimHeaderField>& headers,
                                   const std::vector<std::string>& signed_headers,
                                   const DkimHeaderField& signature_field,
                                   DkimCanonicalization how);

// A signature field as its own signature covers it (RFC 6376 3.7): b= value emptied,
// canonicalised, without the final CRLF. Also the last input of an ARC-Seal (RFC 8617 5.1.1).
std::string canonicalize_signature_field(const DkimHeaderField& signature_field,
                                         DkimCanonicalization how);

// The field with the value of its b= tag removed (RFC 6376 3.7), all else byte for byte.
std::string without_b_value(std::string_view raw_field);

}  // namespace herald
