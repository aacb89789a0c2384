// The Received: trace header herald puts at the top of every message it accepts
// (RFC 5321 4.4, with the with-types of RFC 3848 and RFC 6531 3.7.3).
#pragma once

#include <string>
#include <string_view>

#include "util/clock.h"

namespace herald {

struct ReceivedFields {
  std::string helo;         // the EHLO/HELO argument
  std::string peer_ip;      // numeric, "192.0.2.1" or "2001:db8::1"
  std::string hostname;     // this server
  std::string protocol;     // "ESMTP", "ESMTPS", "UTF8SMTPS", …
  std::string id;           // the message id
  std::string tls_version;  // empty without TLS
  std::string tls_cipher;
  std::string single_recipient;  // named in a "for" clause only when it is the only one
  TimePoint at;
};

// The header, folded into lines of at most 78 characters where its parts allow (RFC 5322
// 2.1.1), each line ending in CRLF:
//   Received: from client.example ([192.0.2.1])
//   	by mx.example.test (herald) with ESMTPS id 01J…
//   	(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)
//   	for <alice@example.test>; Tue, 02 Jan 2024 15:04:05 +0000
std::string received_header(const ReceivedFields& fields);

}  // namespace herald
