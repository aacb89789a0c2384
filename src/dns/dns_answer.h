// The shape of every DNS answer herald's resolvers give: a status, the records of the asked
// type, their TTL and whether DNSSEC proved them. Plain data, no I/O, so that SPF, DKIM,
// DMARC and DANE code and their tests can build answers by hand.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace herald {

enum class DnsStatus {
  no_error,  // the name exists; no records of the type (NODATA) is no_error with none
  nxdomain,  // the name does not exist: a permanent answer
  servfail,  // the server failed (incl. REFUSED, DNSSEC bogus): try again later
  timeout,   // no answer in time: try again later
};

// SERVFAIL and timeouts say nothing about the name; callers defer instead of deciding.
constexpr bool is_temporary(DnsStatus status) {
  return status == DnsStatus::servfail || status == DnsStatus::timeout;
}

std::string_view to_string(DnsStatus status);

struct MxRecord {
  uint16_t preference = 0;
  std::string exchange;  // lower case, no trailing dot; "" for a null MX (RFC 7505)
  bool operator==(const MxRecord&) const = default;
};

// RFC 7208 3.3 and RFC 6376 3.6.2.2 join the strings themselves, each in its own way, so
// the resolver keeps them apart.
struct TxtRecord {
  std::vector<std::string> strings;
  bool operator==(const TxtRecord&) const = default;
};

// RFC 6698 2.1.
struct TlsaRecord {
  uint8_t usage = 0;
  uint8_t selector = 0;
  uint8_t matching_type = 0;
  std::vector<uint8_t> data;  // the certificate association data, binary
  bool operator==(const TlsaRecord&) const = default;
};

// A and AAAA records are numeric address text ("192.0.2.1", "2001:db8::1"), PTR and MX
// targets are names: lower case, no trailing dot.
template <class Record>
struct DnsAnswer {
  DnsStatus status = DnsStatus::servfail;
  std::vector<Record> records;  // empty unless status is no_error
  uint32_t ttl = 0;             // seconds the records may be cached; 0 when there are none
  bool secure = false;          // DNSSEC validated the answer (RFC 4035 4.3); needed by DANE
};

// Lower case without the trailing dot: the one spelling of a name that herald compares.
std::string normalize_dns_name(std::string_view name);

}  // namespace herald
