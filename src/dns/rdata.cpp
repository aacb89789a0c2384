#include "dns/rdata.h"

#include <arpa/inet.h>

namespace herald {
namespace {

// Reads an uncompressed name starting at `pos`, moves `pos` past it. RFC 1035 3.1: labels
// of at most 63 octets, ended by the zero-length root label.
std::optional<std::string> read_name(std::span<const uint8_t> rdata, size_t& pos) {
  std::string labels;
  while (pos < rdata.size()) {
    const size_t length = rdata[pos++];
    if (length == 0) return normalize_dns_name(labels);
    if (length > 63 || pos + length > rdata.size()) return std::nullopt;
    if (!labels.empty()) labels += '.';
    labels.append(reinterpret_cast<const char*>(rdata.data() + pos), length);
    pos += length;
  }
  return std::nullopt;
}

std::optional<std::string> address_text(int family, std::span<const uint8_t> rdata, size_t size) {
  if (rdata.size() != size) return std::nullopt;
  char text[INET6_ADDRSTRLEN];
  if (::inet_ntop(family, rdata.data(), text, sizeof text) == nullptr) return std::nullopt;
  return std::string(text);
}

}  // namespace

std::optional<std::string> parse_a_rdata(std::span<const uint8_t> rdata) {
  return address_text(AF_INET, rdata, 4);
}

std::optional<std::string> parse_aaaa_rdata(std::span<const uint8_t> rdata) {
  return address_text(AF_INET6, rdata, 16);
}

std::optional<MxRecord> parse_mx_rdata(std::span<const uint8_t> rdata) {
  if (rdata.size() < 3) return std::nullopt;
  size_t pos = 2;
  auto exchange = read_name(rdata, pos);
  if (!exchange || pos != rdata.size()) return std::nullopt;
  return MxRecord{static_cast<uint16_t>(rdata[0] << 8 | rdata[1]), std::move(*exchange)};
}

std::optional<TxtRecord> parse_txt_rdata(std::span<const uint8_t> rdata) {
  TxtRecord txt;
  size_t pos = 0;
  while (pos < rdata.size()) {
    const size_t length = rdata[pos++];
    if (pos + length > rdata.size()) return std::nullopt;
    txt.strings.emplace_back(reinterpret_cast<const char*>(rdata.data() + pos), length);
    pos += length;
  }
  return txt;
}

std::optional<TlsaRecord> parse_tlsa_rdata(std::span<const uint8_t> rdata) {
  if (rdata.size() < 3) return std::nullopt;
  return TlsaRecord{rdata[0], rdata[1], rdata[2], {rdata.begin() + 3, rdata.end()}};
}

std::optional<std::string> parse_name_rdata(std::span<const uint8_t> rdata) {
  size_t pos = 0;
  auto name = read_name(rdata, pos);
  if (!name || pos != rdata.size()) return std::nullopt;
  return name;
}

}  // namespace herald
