// Sealing a message as an ARC intermediary (RFC 8617 5.1): the ARC-Authentication-Results
// recording what this server found, the ARC-Message-Signature over the message, and the
// ARC-Seal over the whole chain, with rsa-sha256 or ed25519-sha256 keys.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "auth/arc_set.h"
#include "auth/dkim_crypto.h"
#include "mime/message_content.h"
#include "util/clock.h"

namespace herald {

struct ArcSealError {
  std::string reason;
};

// Immutable after load; seal() may be called from several threads at once. RSA signing
// costs about a millisecond: call it off the io threads (DESIGN.md section 5).
class ArcSealer {
 public:
  // Loads a PEM private key as DkimSigner does (RSA of 1024 bits or more, or Ed25519).
  // `signed_headers`, when not empty, is the AMS h= list, used as given (lower case); when
  // empty, the AMS signs what DkimSigner signs. Errors: unreadable file, not PEM, another key
  // type, RSA under 1024 bits, or `signed_headers` naming ARC-Seal (RFC 8617 4.1.2).
  static std::variant<ArcSealer, ArcSealError> from_pem_file(
      const std::filesystem::path& file, std::string domain, std::string selector,
      std::vector<std::string> signed_headers = {});
  static std::variant<ArcSealer, ArcSealError> from_pem(
      std::string_view pem, std::string domain, std::string selector,
      std::vector<std::string> signed_headers = {});

  // The three fields to put above the message's first header field, CRLF-terminated, in
  // the order ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results, for instance
  // i = previous highest + 1. `message` has CRLF line ends. `results` is the Authentication-Results
  // payload this server wrote (after the authserv-id and ";", e.g. "spf=pass
  // smtp.mailfrom=a.test; dkim=…"); `chain` the validation verdict of the chain as received,
  // which becomes cv=. A chain that failed here is sealed with cv=fail, the seal covering
  // only the new set (RFC 8617 5.1.2). `now` becomes t=. Tags are written in alphabetical
  // order, one SP after each ";", as the interoperability suites expect.
  // Errors: the message already has 50 sets (RFC 8617 4.2.1); its newest seal already says
  // cv=fail (the chain was given up upstream: no set is added); `chain` is pass or none but
  // the sets are broken in form, none while sets exist, or pass while none do; the message
  // has no From; OpenSSL cannot sign.
  // Blocking: reads the body's pieces on the calling thread (MessageBody::piece), hashing
  // them as they come; `message` is only read during the call. Throws ContentReadError when
  // a piece cannot be read.
  std::variant<std::string, ArcSealError> seal(const MessageContent& message,
                                               std::string_view authserv_id,
                                               std::string_view results, ArcChainResult chain,
                                               TimePoint now) const;

 private:
  // The tags an AMS and an AS of one set share, as written.
  struct SetTags {
    std::string algorithm;
    std::string domain;
    std::string selector;
    std::string instance;
    std::string timestamp;
  };

  ArcSealer(DkimPrivateKey key, std::string domain, std::string selector,
            std::vector<std::string> signed_headers);
  // Why a new set may not be added, or nullopt.
  static std::optional<ArcSealError> refusal(const std::vector<DkimHeaderField>& headers,
                                             const ArcChainFields& received, ArcChainResult chain);
  std::variant<std::string, ArcSealError> message_signature(
      const std::vector<DkimHeaderField>& headers, const MessageBody& body,
      const SetTags& tags) const;
  std::variant<std::string, ArcSealError> seal_over(std::vector<ArcSetFields> covered,
                                                    std::string_view aar_field,
                                                    std::string_view ams_field,
                                                    ArcChainResult chain,
                                                    const SetTags& tags) const;
  static std::variant<ArcSealer, ArcSealError> from_key(
      std::variant<DkimPrivateKey, std::string> loaded, std::string domain, std::string selector,
      std::vector<std::string> signed_headers);

  DkimPrivateKey key_;
  std::string domain_;
  std::string selector_;
  std::vector<std::string> signed_headers_;
};

}  // namespace herald
