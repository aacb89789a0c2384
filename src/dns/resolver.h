// What herald asks of DNS: one asynchronous lookup per record type it uses. Implemented by
// UnboundResolver (the real one, on the io loop) and MemoryResolver (zone data in memory,
// for tests). The header stays free of Asio; dns/awaitable.h adapts it to co_await.
#pragma once

#include <functional>
#include <string>

#include "dns/dns_answer.h"

namespace herald {

// Every lookup takes a domain name (any case, trailing dot optional) and calls `done`
// exactly once with the answer. Lookups never block the calling thread and may be started
// from any thread. Which thread runs `done`, and whether it can run before the lookup call
// returns, is each implementation's to say; `done` must neither block nor throw (it may run
// inside a C library's callback). Failures are answers (DnsStatus), never exceptions.
// Query counting for RFC 7208 4.6.4 limits is the caller's.
class Resolver {
 public:
  template <class Record>
  using Done = std::function<void(DnsAnswer<Record>)>;

  virtual ~Resolver() = default;

  // Sorted by preference, ties in the server's order (RFC 5321 5.1 leaves their order
  // to the sender).
  virtual void lookup_mx(std::string name, Done<MxRecord> done) = 0;
  virtual void lookup_a(std::string name, Done<std::string> done) = 0;
  virtual void lookup_aaaa(std::string name, Done<std::string> done) = 0;
  virtual void lookup_txt(std::string name, Done<TxtRecord> done) = 0;
  virtual void lookup_tlsa(std::string name, Done<TlsaRecord> done) = 0;
  // `name` is the reverse name: 4.3.2.1.in-addr.arpa, or nibbles under ip6.arpa (RFC 3596 2.5).
  virtual void lookup_ptr(std::string name, Done<std::string> done) = 0;
};

}  // namespace herald
