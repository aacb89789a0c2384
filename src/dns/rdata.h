// Record data in DNS wire format (RFC 1035 3.3) to herald's record types. libunbound hands
// over each record's rdata uncompressed; these read it. Each returns nullopt for rdata that
// does not have its type's shape.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "dns/dns_answer.h"

namespace herald {

std::optional<std::string> parse_a_rdata(std::span<const uint8_t> rdata);     // RFC 1035 3.4.1
std::optional<std::string> parse_aaaa_rdata(std::span<const uint8_t> rdata);  // RFC 3596 2.2
std::optional<MxRecord> parse_mx_rdata(std::span<const uint8_t> rdata);       // RFC 1035 3.3.9
std::optional<TxtRecord> parse_txt_rdata(std::span<const uint8_t> rdata);     // RFC 1035 3.3.14
std::optional<TlsaRecord> parse_tlsa_rdata(std::span<const uint8_t> rdata);   // RFC 6698 2.1
// A PTR's rdata is one name (RFC 1035 3.3.12).
std::optional<std::string> parse_name_rdata(std::span<const uint8_t> rdata);

}  // namespace herald
