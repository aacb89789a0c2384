// Making a DKIM key pair: the private key for the signer and the key record to publish
// (RFC 6376 3.6.1, RFC 8463 4), for `herald dkim keygen`.
#pragma once

#include <string>
#include <string_view>

#include "auth/dkim_signature.h"

namespace herald {

struct DkimKeyPair {
  std::string private_key_pem;  // PKCS#8 PEM, what DkimSigner::from_pem reads
  std::string key_record;       // "v=DKIM1; k=rsa; p=…", the TXT record's text
};

// A fresh key: RSA 2048 bits (RFC 8301 3.2 recommends at least 2048) or Ed25519. Throws
// std::runtime_error only if OpenSSL cannot make a key, which is not expected.
DkimKeyPair generate_dkim_key(DkimKeyRecord::KeyType type);

// The zone-file line publishing `key_record` at selector._domainkey.domain, its text split
// into quoted strings of at most 255 bytes, the limit of one TXT string (RFC 1035 3.3.14).
std::string dkim_zone_line(std::string_view domain, std::string_view selector,
                           std::string_view key_record);

}  // namespace herald
