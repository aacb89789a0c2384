// The libunbound resolver against a real nsd on loopback.
#include "dns/unbound_resolver.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>

#include "dns/awaitable.h"
#include "nsd_server.h"

namespace herald {
namespace {

using test_support::NsdServer;
using test_support::SilentUdpPort;

constexpr const char* kExampleZone = R"($ORIGIN example.test.
$TTL 300
@       IN SOA ns hostmaster 1 3600 600 86400 60
@       IN NS  ns
ns      IN A   127.0.0.1
@       IN MX  20 mx2
@       IN MX  10 MX1.Example.Test.
@       IN MX  30 mx3
mx1     IN A   127.0.0.2
mx1     IN AAAA ::1
mx2     IN A   127.0.0.3
mx2     IN A   127.0.0.4
mx3     IN A   127.0.0.5
@       IN TXT "v=spf1 " "-all"
_25._tcp.mx1 IN TLSA 3 1 1 ABCDEF0123
alias   IN CNAME mx1
loop    IN CNAME Loop2
loop2   IN CNAME loop
)";

// 3.4.5.0/24: not one of the reverse zones libunbound answers itself (127/8, RFC 1918, the
// RFC 5737 documentation networks).
constexpr const char* kReverseZone = R"($ORIGIN 5.4.3.in-addr.arpa.
$TTL 300
@       IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 60
@       IN NS  ns.example.test.
6       IN PTR mx1.example.test.
)";

// The test zones are unsigned and nsd is not authoritative for the root, so validation is
// off whether or not this machine has a root key.
const std::filesystem::path kNoTrustAnchor;

// Runs the io loop until the answer arrives, for at most 20 s.
template <class Record>
DnsAnswer<Record> resolve(boost::asio::io_context& io, Resolver& resolver,
                          ResolverLookup<Record> lookup, std::string name) {
  std::optional<DnsAnswer<Record>> answer;
  (resolver.*lookup)(std::move(name), [&](DnsAnswer<Record> a) { answer = std::move(a); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  io.restart();
  while (!answer && std::chrono::steady_clock::now() < deadline) {
    io.run_one_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(answer.has_value()) << "no answer within 20 s";
  return answer.value_or(DnsAnswer<Record>{});
}

class UnboundResolverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      nsd_ = new NsdServer({{"example.test", kExampleZone}, {"5.4.3.in-addr.arpa", kReverseZone}});
    } catch (const std::exception& e) {
      nsd_error_ = e.what();
    }
  }
  static void TearDownTestSuite() {
    delete nsd_;
    nsd_ = nullptr;
  }

  void SetUp() override { ASSERT_NE(nsd_, nullptr) << "nsd did not start: " << nsd_error_; }

  DnsConfig config() const {
    DnsConfig dns;
    dns.servers = {nsd_->address()};
    dns.timeout = std::chrono::seconds(10);
    return dns;
  }

  static NsdServer* nsd_;
  static std::string nsd_error_;
  boost::asio::io_context io_;
};

NsdServer* UnboundResolverTest::nsd_ = nullptr;
std::string UnboundResolverTest::nsd_error_;

TEST_F(UnboundResolverTest, MxComeSortedByPreference) {
  UnboundResolver resolver(io_, config(), kNoTrustAnchor);
  auto answer = resolve(io_, resolver, &Resolver::lookup_mx, "Example.Test.");
  ASSERT_EQ(answer.status, DnsStatus::no_error);
  EXPECT_EQ(answer.records,
            (std::vector<MxRecord>{
                {10, "mx1.example.test"}, {20, "mx2.example.test"}, {30, "mx3.example.test"}}));
  EXPECT_GT(answer.ttl, 0u);
  EXPECT_LE(answer.ttl, 300u);
  EXPECT_FALSE(answer.secure);
}

TEST_F(UnboundResolverTest, AddressesOfBothFamilies) {
  UnboundResolver resolver(io_, config(), kNoTrustAnchor);
  auto a = resolve(io_, resolver, &Resolver::lookup_a, "mx2.example.test");
  ASSERT_EQ(a.status, DnsStatus::no_error);
  std::sort(a.records.begin(), a.records.end());
  EXPECT_EQ(a.records, (std::vector<std::string>{"127.0.0.3", "127.0.0.4"}));
  auto aaaa = resolve(io_, resolver, &Resolver::lookup_aaaa, "mx1.example.test");
  ASSERT_EQ(aaaa.status, DnsStatus::no_error);
  EXPECT_EQ(aaaa.records, std::vector<std::string>{"::1"});
}

TEST_F(UnboundResolverTest, CnameIsFollowed) {
  UnboundResolver resolver(io_, config(), kNoTrustAnchor);
  auto a = resolve(io_, resolver, &Resolver::lookup_a, "alias.example.test");
  ASSERT_EQ(a.status, DnsStatus::no_error);
  EXPECT_EQ(a.records, std::vector<std::string>{"127.0.0.2"});
}

// RFC 1034 3.6.2: a CNAME loop is an error. The SPF suite's zone (tests/unit/auth/spf_suite.h)
// answers one as this resolver does.
TEST_F(UnboundResolverTest, CnameLoopIsServfailAndTemporary) {
  UnboundResolver resolver(io_, config(), kNoTrustAnchor);
  auto a = resolve(io_, resolver, &Resolver::lookup_a, "loop.example.test");
  EXPECT_EQ(a.status, DnsStatus::servfail);
  EXPECT_TRUE(is_temporary(a.status));
}

TEST_F(UnboundResolverTest, TxtCharacterStringsStaySeparate) {
  UnboundResolver resolver(io_, config(), kNoTrustAnchor);
  auto txt = resolve(io_, resolver, &Resolver::lookup_txt, "example.test");
  ASSERT_EQ(txt.status, DnsStatus::no_error);
  ASSERT_EQ(txt.records.size(), 1u);
  EXPECT_EQ(txt.records[0].strings, (std::vector<std::string>{"v=spf1 ", "-all"}));
}

TEST_F(UnboundResolverTest, TlsaAndPtr) {
  UnboundResolver resolver(io_, config(), kNoTrustAnchor);
  auto tlsa = resolve(io_, resolver, &Resolver::lookup_tlsa, "_25._tcp.mx1.example.test");
  ASSERT_EQ(tlsa.status, DnsStatus::no_error);
  EXPECT_EQ(tlsa.records, (std::vector<TlsaRecord>{{3, 1, 1, {0xab, 0xcd, 0xef, 0x01, 0x23}}}));
  auto ptr = resolve(io_, resolver, &Resolver::lookup_ptr, "6.5.4.3.in-addr.arpa");
  ASSERT_EQ(ptr.status, DnsStatus::no_error);
  EXPECT_EQ(ptr.records, std::vector<std::string>{"mx1.example.test"});
}

TEST_F(UnboundResolverTest, AbsentNameIsNxdomainAndPermanent) {
  UnboundResolver resolver(io_, config(), kNoTrustAnchor);
  auto answer = resolve(io_, resolver, &Resolver::lookup_mx, "nowhere.example.test");
  EXPECT_EQ(answer.status, DnsStatus::nxdomain);
  EXPECT_FALSE(is_temporary(answer.status));
  EXPECT_TRUE(answer.records.empty());
}

TEST_F(UnboundResolverTest, PresentNameWithoutTheTypeIsNodata) {
  UnboundResolver resolver(io_, config(), kNoTrustAnchor);
  auto answer = resolve(io_, resolver, &Resolver::lookup_mx, "mx1.example.test");
  EXPECT_EQ(answer.status, DnsStatus::no_error);
  EXPECT_TRUE(answer.records.empty());
  EXPECT_EQ(answer.ttl, 0u);
}

TEST_F(UnboundResolverTest, RefusedUpstreamIsServfailAndTemporary) {
  // nsd refuses names outside its zones; a resolver must not take that as "no such name".
  UnboundResolver resolver(io_, config(), kNoTrustAnchor);
  auto answer = resolve(io_, resolver, &Resolver::lookup_a, "example.org");
  EXPECT_EQ(answer.status, DnsStatus::servfail);
  EXPECT_TRUE(is_temporary(answer.status));
}

TEST_F(UnboundResolverTest, SilentUpstreamIsTimeoutAndTemporary) {
  SilentUdpPort silent;
  DnsConfig dns;
  dns.servers = {"127.0.0.1:" + std::to_string(silent.port())};
  dns.timeout = std::chrono::seconds(1);
  UnboundResolver resolver(io_, dns, kNoTrustAnchor);
  const auto start = std::chrono::steady_clock::now();
  auto answer = resolve(io_, resolver, &Resolver::lookup_mx, "example.test");
  EXPECT_EQ(answer.status, DnsStatus::timeout);
  EXPECT_TRUE(is_temporary(answer.status));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(UnboundResolverTest, CoroutinesAwaitLookupsAndConcurrentLookupsAllComplete) {
  UnboundResolver resolver(io_, config(), kNoTrustAnchor);
  std::vector<DnsStatus> statuses;
  boost::asio::co_spawn(
      io_,
      [&]() -> boost::asio::awaitable<void> {
        auto mx = co_await dns_lookup(resolver, &Resolver::lookup_mx, "example.test");
        statuses.push_back(mx.status);
        for (const MxRecord& record : mx.records) {
          auto a = co_await dns_lookup(resolver, &Resolver::lookup_a, record.exchange);
          statuses.push_back(a.status);
        }
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  std::optional<DnsAnswer<TxtRecord>> txt;
  resolver.lookup_txt("example.test", [&](DnsAnswer<TxtRecord> a) { txt = std::move(a); });
  io_.run_for(std::chrono::seconds(20));
  EXPECT_EQ(statuses, std::vector<DnsStatus>(4, DnsStatus::no_error));
  ASSERT_TRUE(txt.has_value());
  EXPECT_EQ(txt->status, DnsStatus::no_error);
}

TEST_F(UnboundResolverTest, PendingLookupCompletesAfterTheResolverIsDestroyed) {
  std::optional<DnsAnswer<std::string>> answer;
  {
    UnboundResolver resolver(io_, config(), kNoTrustAnchor);
    resolver.lookup_a("mx1.example.test", [&](DnsAnswer<std::string> a) { answer = std::move(a); });
  }
  io_.run_for(std::chrono::seconds(20));
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->records, std::vector<std::string>{"127.0.0.2"});
}

// A zone whose answers live kTtlSeconds: the records' TTL and, through the SOA's TTL and
// minimum, NXDOMAIN's and NODATA's (RFC 2308 5). `host` has `host_address`; `later` and the
// AAAA of `host` exist only if `later_address` is given.
constexpr int kTtlSeconds = 3;

std::string cache_zone(const std::string& host_address, const std::string& later_address = "") {
  const std::string ttl = std::to_string(kTtlSeconds);
  std::string zone = "$ORIGIN cache.test.\n$TTL " + ttl +
                     "\n@ IN SOA ns hostmaster 1 3600 600 86400 " + ttl +
                     "\n@ IN NS ns\nns IN A 127.0.0.1\nhost IN A " + host_address + "\n";
  if (!later_address.empty()) zone += "later IN A " + later_address + "\nhost IN AAAA ::9\n";
  return zone;
}

TEST(UnboundResolverCache, AnswersAreCachedForTheirTtlAndNoLonger) {
  boost::asio::io_context io;
  auto nsd = std::make_unique<NsdServer>(
      std::vector<NsdServer::Zone>{{"cache.test", cache_zone("127.0.0.2")}});
  const uint16_t port = nsd->port();
  DnsConfig dns;
  dns.servers = {nsd->address()};
  dns.timeout = std::chrono::seconds(10);
  UnboundResolver resolver(io, dns, kNoTrustAnchor);

  const auto asked = std::chrono::steady_clock::now();
  auto first = resolve(io, resolver, &Resolver::lookup_a, "host.cache.test");
  const auto answered = std::chrono::steady_clock::now();
  ASSERT_EQ(first.records, std::vector<std::string>{"127.0.0.2"});
  EXPECT_GT(first.ttl, 0u);
  EXPECT_LE(first.ttl, static_cast<uint32_t>(kTtlSeconds));
  EXPECT_EQ(resolve(io, resolver, &Resolver::lookup_a, "later.cache.test").status,
            DnsStatus::nxdomain);
  EXPECT_TRUE(resolve(io, resolver, &Resolver::lookup_aaaa, "host.cache.test").records.empty());

  // The data changes where the resolver asks: only its cache can still say 127.0.0.2.
  nsd.reset();
  nsd = std::make_unique<NsdServer>(
      std::vector<NsdServer::Zone>{{"cache.test", cache_zone("127.0.0.9", "127.0.0.10")}}, port);

  auto cached = resolve(io, resolver, &Resolver::lookup_a, "host.cache.test");
  auto cached_absence = resolve(io, resolver, &Resolver::lookup_a, "later.cache.test");
  auto cached_nodata = resolve(io, resolver, &Resolver::lookup_aaaa, "host.cache.test");
  ASSERT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(kTtlSeconds))
      << "the server's restart took the whole TTL; nothing shown about the cache";
  EXPECT_EQ(cached.records, std::vector<std::string>{"127.0.0.2"});
  EXPECT_EQ(cached_absence.status, DnsStatus::nxdomain);
  EXPECT_EQ(cached_nodata.status, DnsStatus::no_error);
  EXPECT_TRUE(cached_nodata.records.empty());

  // Past the TTL (libunbound counts whole seconds, so up to one more) the server's new data
  // is asked for.
  std::this_thread::sleep_until(answered + std::chrono::seconds(kTtlSeconds) +
                                std::chrono::milliseconds(1500));
  EXPECT_EQ(resolve(io, resolver, &Resolver::lookup_a, "host.cache.test").records,
            std::vector<std::string>{"127.0.0.9"});
  EXPECT_EQ(resolve(io, resolver, &Resolver::lookup_a, "later.cache.test").records,
            std::vector<std::string>{"127.0.0.10"});
  EXPECT_EQ(resolve(io, resolver, &Resolver::lookup_aaaa, "host.cache.test").records,
            std::vector<std::string>{"::9"});
}

TEST(UnboundResolverSetup, ServersMayBeIpv4OrBracketedIpv6WithPorts) {
  boost::asio::io_context io;
  DnsConfig dns;
  dns.servers = {"127.0.0.1:5353", "[::1]:5353"};
  EXPECT_NO_THROW(UnboundResolver(io, dns, kNoTrustAnchor));
}

TEST(UnboundResolverSetup, UnusableServerIsRefusedAtStart) {
  boost::asio::io_context io;
  DnsConfig dns;
  dns.servers = {"not-an-address:53"};
  EXPECT_THROW(UnboundResolver(io, dns), DnsSetupError);
}

}  // namespace
}  // namespace herald
