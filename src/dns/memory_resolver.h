// Zone data held in memory, answered like an authoritative server would: for unit tests of
// everything that does DNS (conformance README 0.1: the "ZoneResolver").
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dns/resolver.h"

namespace herald {

// Names are normalised (lower case, no trailing dot) when added and when looked up. A name
// with no records of any type and no injected failure is NXDOMAIN; a name with records of
// other types only is NODATA (no_error, none). Answers carry ttl 300 when non-empty and
// secure = false unless set_secure says otherwise.
//
// Threading: `done` runs on the calling thread before the lookup returns. All member
// functions may be called from any thread (a mutex guards the data; `done` runs outside it).
class MemoryResolver : public Resolver {
 public:
  void add_mx(std::string_view name, uint16_t preference, std::string_view exchange);
  void add_a(std::string_view name, std::string address);
  void add_aaaa(std::string_view name, std::string address);
  void add_txt(std::string_view name, std::vector<std::string> strings);
  void add_tlsa(std::string_view name, TlsaRecord record);
  void add_ptr(std::string_view name, std::string_view target);

  // Every lookup of `name`, whatever the type, then answers `status` (servfail or timeout)
  // with no records.
  void fail(std::string_view name, DnsStatus status);
  // Answers about `name` then say DNSSEC validated them.
  void set_secure(std::string_view name);

  // Lookups answered so far, all types.
  uint64_t query_count() const;

  void lookup_mx(std::string name, Done<MxRecord> done) override;
  void lookup_a(std::string name, Done<std::string> done) override;
  void lookup_aaaa(std::string name, Done<std::string> done) override;
  void lookup_txt(std::string name, Done<TxtRecord> done) override;
  void lookup_tlsa(std::string name, Done<TlsaRecord> done) override;
  void lookup_ptr(std::string name, Done<std::string> done) override;

 private:
  struct Node {
    std::vector<MxRecord> mx;
    std::vector<std::string> a;
    std::vector<std::string> aaaa;
    std::vector<TxtRecord> txt;
    std::vector<TlsaRecord> tlsa;
    std::vector<std::string> ptr;
    std::optional<DnsStatus> failure;
    bool secure = false;
  };

  template <class Record>
  DnsAnswer<Record> answer(std::string_view name, std::vector<Record> Node::*records);

  mutable std::mutex mutex_;
  std::map<std::string, Node, std::less<>> zone_;
  uint64_t queries_ = 0;
};

}  // namespace herald
