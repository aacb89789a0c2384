// The real resolver: libunbound, driven from herald's io loop. libunbound's own thread does
// the network work; its result pipe is watched by the loop, so no io thread ever waits on
// DNS.
#pragma once

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "config/config.h"
#include "dns/resolver.h"

namespace boost::asio {
class io_context;
}

namespace herald {

// libunbound refused the configuration ("[dns] servers" entry it cannot use, no
// /etc/resolv.conf, …).
class DnsSetupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Upstream: config.servers ("ip:port", "[ipv6]:port") as forwarders for every name, or the
// system's /etc/resolv.conf when empty. With forwarders, loopback addresses are allowed and
// names under "test." (RFC 6761 6.2) are resolved rather than refused locally and are not
// expected to be signed, so that tests can forward to an authoritative server on loopback
// (DESIGN.md section 9). DNSSEC is validated against `trust_anchor` (a root key file in
// unbound's format) when that file exists; otherwise `secure` is always false. A lookup
// without an answer after config.timeout is reported as timeout.
//
// Threading: lookups may start from any thread. `done` runs on an io thread of `io`, in
// the resolver's strand (one completion at a time), and must not block. The resolver may
// be destroyed while lookups are pending; they still complete. `io` must outlive them.
// Throws DnsSetupError.
class UnboundResolver : public Resolver {
 public:
  // Debian's copy of the root zone's key (package dns-root-data).
  static constexpr const char* kDebianRootTrustAnchor = "/usr/share/dns/root.key";

  UnboundResolver(boost::asio::io_context& io, const DnsConfig& config,
                  const std::filesystem::path& trust_anchor = kDebianRootTrustAnchor);
  ~UnboundResolver() override;

  void lookup_mx(std::string name, Done<MxRecord> done) override;
  void lookup_a(std::string name, Done<std::string> done) override;
  void lookup_aaaa(std::string name, Done<std::string> done) override;
  void lookup_txt(std::string name, Done<TxtRecord> done) override;
  void lookup_tlsa(std::string name, Done<TlsaRecord> done) override;
  void lookup_ptr(std::string name, Done<std::string> done) override;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace herald
