// Signing outgoing mail with DKIM (RFC 6376 5): relaxed/relaxed, rsa-sha256 or
// ed25519-sha256 (RFC 8463). A domain that publishes both key types signs twice, one
// DkimSigner per key, each call adding its own field.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "auth/dkim_canonical.h"
#include "auth/dkim_crypto.h"
#include "auth/dkim_signature.h"
#include "mime/message_content.h"
#include "util/clock.h"

namespace herald {

struct DkimSignError {
  std::string reason;
};

// The h= list DkimSigner signs for a message with `headers`: each name of
// DkimSigner::signed_header_names() once per field present, From once more so that none
// can be added later (RFC 6376 8.15). nullopt when there is no From (RFC 6376 5.4: From
// MUST be signed).
std::optional<std::vector<std::string>> dkim_headers_to_sign(
    const std::vector<DkimHeaderField>& headers);

// Immutable after load; sign() may be called from several threads at once. RSA signing
// costs about a millisecond: call it off the io threads (DESIGN.md section 5).
class DkimSigner {
 public:
  // Loads a PEM private key (PKCS#8 or the traditional RSA form). The algorithm follows the
  // key: rsa-sha256 for RSA, ed25519-sha256 for Ed25519. Errors: unreadable file, not PEM,
  // another key type, or RSA under 1024 bits (RFC 8301 3.2).
  static std::variant<DkimSigner, DkimSignError> from_pem_file(const std::filesystem::path& file,
                                                               std::string domain,
                                                               std::string selector);
  static std::variant<DkimSigner, DkimSignError> from_pem(std::string_view pem, std::string domain,
                                                          std::string selector);

  DkimAlgorithm algorithm() const { return algorithm_; }
  const std::string& domain() const { return domain_; }      // d=, lower case
  const std::string& selector() const { return selector_; }  // s=, lower case

  // Whether `header` (a CRLF header section, MessageContent::header) already carries a
  // DKIM-Signature field that parses and names this signer's d= and s=: signing it again
  // would only add a duplicate.
  bool has_signed(std::string_view header) const;

  // The "DKIM-Signature: …" field, folded and ending in CRLF, to put above the message's
  // first header field. `message` has CRLF line ends; `now` becomes t=. Signs every field in
  // signed_header_names() that the message has, plus one more From so that none can be
  // added later (RFC 6376 8.15). Error: the message has no From (RFC 6376 5.4).
  // Blocking: reads the body's pieces on the calling thread (MessageBody::piece), hashing
  // them as they come; `message` is only read during the call. Throws ContentReadError when
  // a piece cannot be read: the message cannot be sent signed for now.
  std::variant<std::string, DkimSignError> sign(const MessageContent& message, TimePoint now) const;

  // The fields signed when present, in h= order.
  static const std::vector<std::string>& signed_header_names();

 private:
  DkimSigner(std::shared_ptr<evp_pkey_st> key, DkimAlgorithm algorithm, std::string domain,
             std::string selector);
  static std::variant<DkimSigner, DkimSignError> from_key(
      std::variant<DkimPrivateKey, std::string> loaded, std::string domain, std::string selector);

  std::shared_ptr<evp_pkey_st> key_;
  DkimAlgorithm algorithm_;
  std::string domain_;
  std::string selector_;
};

}  // namespace herald
