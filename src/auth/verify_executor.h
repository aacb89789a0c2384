// Where the CPU work of checking a received message runs: body hashes, and the public-key
// operations of DKIM signatures, ARC-Message-Signatures and ARC-Seals. In heraldd that is a
// small pool of its own ([limits] verify_threads), so that neither the resolver's thread
// (which answers every DNS lookup, SPF's too) nor the SMTP io threads do it.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <utility>

namespace herald {

// A null executor (the default) runs the work in place, on the thread that has the last
// key answer: what a caller with a synchronous resolver, such as the tests, wants.
using VerifyExecutor = boost::asio::any_io_executor;

template <class Work>
void run_verification(const VerifyExecutor& executor, Work&& work) {
  if (executor) {
    boost::asio::post(executor, std::forward<Work>(work));
  } else {
    std::forward<Work>(work)();
  }
}

}  // namespace herald
