// co_await for Resolver lookups, for coroutine code that already uses Asio:
//   DnsAnswer<MxRecord> mx = co_await dns_lookup(resolver, &Resolver::lookup_mx, domain);
// Kept apart from dns/resolver.h so that code which only passes a Resolver along does not
// pay for Asio's headers.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <string>
#include <utility>

#include "dns/resolver.h"

namespace herald {

template <class Record>
using ResolverLookup = void (Resolver::*)(std::string, Resolver::Done<Record>);

// The coroutine resumes on its own executor whatever thread the resolver answered on, and
// never inside the lookup call (the resumption is posted), so a resolver that answers at
// once cannot recurse into its caller. `resolver` must outlive the lookup.
template <class Record>
boost::asio::awaitable<DnsAnswer<Record>> dns_lookup(Resolver& resolver,
                                                     ResolverLookup<Record> lookup,
                                                     std::string name) {
  namespace asio = boost::asio;
  auto initiate = [&resolver, lookup](auto handler, std::string name) {
    // std::function must be copyable; the coroutine's handler is move-only.
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    (resolver.*lookup)(std::move(name), [shared](DnsAnswer<Record> answer) {
      auto executor = asio::get_associated_executor(*shared);
      asio::post(executor, [shared, answer = std::move(answer)]() mutable {
        std::move (*shared)(std::move(answer));
      });
    });
  };
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>, void(DnsAnswer<Record>)>(
      initiate, asio::use_awaitable, std::move(name));
}

}  // namespace herald
