// The asynchronous SPF check, as a coroutine for code that already runs on Asio. Kept apart
// from auth/spf.h so that code which only handles SPF results does not pay for Asio.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "auth/spf.h"

namespace herald {

// RFC 7208 4 check_host() for the identity `request.identity` names. All DNS goes through
// `resolver`, which must outlive the coroutine. Never throws for anything DNS or the
// record can do: DNS failures are temperror, bad records permerror (SpfOutcome::reason).
boost::asio::awaitable<SpfOutcome> check_spf(Resolver& resolver, SpfRequest request,
                                             SpfOptions options);

}  // namespace herald
