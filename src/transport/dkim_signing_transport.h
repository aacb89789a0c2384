// DKIM signing of mail leaving by SMTP (DESIGN.md section 1, promise 4): a Transport that
// puts herald's DKIM-Signature fields on the mail it vouches for and hands every attempt on
// to the transport that carries it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "auth/dkim_signing_table.h"
#include "queue/transport.h"
#include "util/clock.h"
#include "util/ip_network.h"
#include "util/swappable.h"

namespace herald {

// Whether herald vouches for where a message came from, so that its signature may stand
// behind the message: an authenticated submission, a client in [server] trusted_networks,
// or a DSN herald wrote itself. Mail that came in from the Internet and is forwarded is
// not: its author's domain signs it, and a forwarder speaks for it with ARC instead.
bool vouches_for_origin(const Envelope& envelope, const std::vector<IpNetwork>& trusted_networks);

class DkimSigningTransport final : public Transport {
 public:
  // `inner` carries the attempts; `keys` (replaced whole by a reload, which the next
  // attempt sees; an attempt signs with the table it started with) and `clock` (the
  // signatures' t=) must outlive this transport, as must `inner`. Does no I/O.
  DkimSigningTransport(Transport& inner, const Swappable<DkimSigningTable>& keys,
                       std::vector<IpNetwork> trusted_networks, const Clock& clock);

  // Signs `content` once per attempt when its origin is vouched for and its RFC5322.From
  // domain (or the nearest parent domain, see DkimSigningTable) has keys: one field per key
  // that has not signed it already (same d= and s=), prepended, so the signatures cover
  // exactly the bytes sent; the signed content shares `content`'s body (with_fields_on_top),
  // never a copy of it. Then delegates to `inner` and returns its result unchanged. A
  // message that cannot be signed (no usable From, a signing error) goes out unsigned with
  // a warning in the log: signing never fails a delivery. Thread-safety and blocking as
  // `inner`; signing blocks the calling worker thread for about a millisecond per RSA key.
  AttemptResult attempt(const MessageRecord& message, const Delivery& delivery,
                        const MessageContent& content) override;
  std::vector<AttemptResult> attempt_together(const MessageRecord& message,
                                              const std::vector<Delivery>& deliveries,
                                              const MessageContent& content) override;

  // The DKIM-Signature fields to put above `content`; empty when it is not to be signed
  // (at once, without reading `content`, while the table has no keys).
  // Thread-safe; about a millisecond per RSA key. Public for the asynchronous path
  // (server/outbound.cpp), which signs on a pool of its own before starting the attempt.
  // Blocks while the body is read (signing hashes it); a body piece that cannot be read
  // throws ContentReadError.
  std::string signature_fields(const MessageRecord& message, const MessageContent& content) const;

 private:
  Transport& inner_;
  const Swappable<DkimSigningTable>& keys_;
  std::vector<IpNetwork> trusted_networks_;
  const Clock& clock_;
};

}  // namespace herald
