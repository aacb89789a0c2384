#include "dns/memory_resolver.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "dns/awaitable.h"

namespace herald {
namespace {

template <class Record>
DnsAnswer<Record> ask(MemoryResolver& resolver, ResolverLookup<Record> lookup, std::string name) {
  std::optional<DnsAnswer<Record>> answer;
  (resolver.*lookup)(std::move(name), [&](DnsAnswer<Record> a) { answer = std::move(a); });
  EXPECT_TRUE(answer.has_value()) << "done must run before the lookup returns";
  return answer.value_or(DnsAnswer<Record>{});
}

TEST(MemoryResolver, AbsentNameIsNxdomainAndPermanent) {
  MemoryResolver resolver;
  auto answer = ask(resolver, &Resolver::lookup_a, "nowhere.example");
  EXPECT_EQ(answer.status, DnsStatus::nxdomain);
  EXPECT_FALSE(is_temporary(answer.status));
  EXPECT_TRUE(answer.records.empty());
}

TEST(MemoryResolver, PresentNameWithoutTheTypeIsNodata) {
  MemoryResolver resolver;
  resolver.add_a("mail.example", "192.0.2.1");
  auto answer = ask(resolver, &Resolver::lookup_mx, "mail.example");
  EXPECT_EQ(answer.status, DnsStatus::no_error);
  EXPECT_TRUE(answer.records.empty());
  EXPECT_EQ(answer.ttl, 0u);
}

TEST(MemoryResolver, NamesAreCaseInsensitiveAndTrailingDotIsIgnored) {
  MemoryResolver resolver;
  resolver.add_a("Mail.Example.", "192.0.2.1");
  auto answer = ask(resolver, &Resolver::lookup_a, "MAIL.example");
  ASSERT_EQ(answer.status, DnsStatus::no_error);
  EXPECT_EQ(answer.records, std::vector<std::string>{"192.0.2.1"});
  EXPECT_GT(answer.ttl, 0u);
}

TEST(MemoryResolver, MxAreSortedByPreferenceWithExchangesNormalised) {
  MemoryResolver resolver;
  resolver.add_mx("example", 20, "Backup.Example.");
  resolver.add_mx("example", 10, "primary.example");
  resolver.add_mx("example", 20, "second-backup.example");
  auto answer = ask(resolver, &Resolver::lookup_mx, "example");
  ASSERT_EQ(answer.status, DnsStatus::no_error);
  EXPECT_EQ(answer.records,
            (std::vector<MxRecord>{
                {10, "primary.example"}, {20, "backup.example"}, {20, "second-backup.example"}}));
}

TEST(MemoryResolver, TxtCharacterStringsStaySeparate) {
  MemoryResolver resolver;
  resolver.add_txt("example", {"v=spf1 ", "-all"});
  resolver.add_txt("example", {});
  auto answer = ask(resolver, &Resolver::lookup_txt, "example");
  ASSERT_EQ(answer.records.size(), 2u);
  EXPECT_EQ(answer.records[0].strings, (std::vector<std::string>{"v=spf1 ", "-all"}));
  EXPECT_TRUE(answer.records[1].strings.empty());
}

TEST(MemoryResolver, AaaaPtrAndTlsaAnswerWhatWasAdded) {
  MemoryResolver resolver;
  resolver.add_aaaa("example", "2001:db8::1");
  resolver.add_ptr("1.2.0.192.in-addr.arpa", "Mail.Example.");
  resolver.add_tlsa("_25._tcp.mail.example", {3, 1, 1, {0xab, 0xcd}});
  EXPECT_EQ(ask(resolver, &Resolver::lookup_aaaa, "example").records,
            std::vector<std::string>{"2001:db8::1"});
  EXPECT_EQ(ask(resolver, &Resolver::lookup_ptr, "1.2.0.192.in-addr.arpa").records,
            std::vector<std::string>{"mail.example"});
  EXPECT_EQ(ask(resolver, &Resolver::lookup_tlsa, "_25._tcp.mail.example").records,
            (std::vector<TlsaRecord>{{3, 1, 1, {0xab, 0xcd}}}));
}

TEST(MemoryResolver, InjectedFailuresAreTemporaryForEveryType) {
  MemoryResolver resolver;
  resolver.add_a("broken.example", "192.0.2.1");
  resolver.fail("broken.example", DnsStatus::servfail);
  resolver.fail("slow.example", DnsStatus::timeout);
  auto servfail = ask(resolver, &Resolver::lookup_a, "broken.example");
  EXPECT_EQ(servfail.status, DnsStatus::servfail);
  EXPECT_TRUE(servfail.records.empty());
  EXPECT_TRUE(is_temporary(servfail.status));
  auto timeout = ask(resolver, &Resolver::lookup_txt, "slow.example");
  EXPECT_EQ(timeout.status, DnsStatus::timeout);
  EXPECT_TRUE(is_temporary(timeout.status));
}

TEST(MemoryResolver, SecureIsReportedOnlyWhereSet) {
  MemoryResolver resolver;
  resolver.add_tlsa("_25._tcp.signed.example", {3, 1, 1, {0x01}});
  resolver.add_tlsa("_25._tcp.plain.example", {3, 1, 1, {0x01}});
  resolver.set_secure("_25._tcp.signed.example");
  EXPECT_TRUE(ask(resolver, &Resolver::lookup_tlsa, "_25._tcp.signed.example").secure);
  EXPECT_FALSE(ask(resolver, &Resolver::lookup_tlsa, "_25._tcp.plain.example").secure);
}

TEST(MemoryResolver, CountsEveryQueryWhateverTheAnswer) {
  MemoryResolver resolver;
  resolver.add_a("example", "192.0.2.1");
  ask(resolver, &Resolver::lookup_a, "example");
  ask(resolver, &Resolver::lookup_mx, "example");
  ask(resolver, &Resolver::lookup_txt, "absent.example");
  EXPECT_EQ(resolver.query_count(), 3u);
}

TEST(DnsLookupAwaitable, ResumesTheCoroutineWithTheAnswer) {
  MemoryResolver resolver;
  resolver.add_mx("example", 10, "mx.example");
  boost::asio::io_context io;
  std::optional<DnsAnswer<MxRecord>> answer;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        answer = co_await dns_lookup(resolver, &Resolver::lookup_mx, "example");
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->records, (std::vector<MxRecord>{{10, "mx.example"}}));
}

}  // namespace
}  // namespace herald
