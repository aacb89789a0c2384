// What the queue needs from a transport (src/transport/ implements it): carry one delivery
// and say how it went. The queue owns retries, deadlines and the ledger; a transport only
// attempts.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mime/message_content.h"
#include "store/records.h"

namespace herald {

struct AttemptResult {
  enum class Outcome {
    delivered,  // it is in the mailbox / the remote server took it
    temporary,  // try again later (disk full, 4xx)
    permanent,  // will never work (5xx, mailbox unusable): bounce
  };
  Outcome outcome = Outcome::temporary;
  std::string reply;                                        // one line, for the ledger
  std::vector<std::pair<std::string, std::string>> fields;  // ledger details: mailbox=…
};

// Thread-safety: attempt() is called concurrently from the queue's worker threads, and may
// block (file I/O, fsync, reading body pieces). `content` stays valid and unchanged for the
// call; its body is read piece by piece (MessageContent::read_body), never held whole. A
// body piece that cannot be read (ContentReadError) may propagate: the caller counts it as a
// temporary failure. It must be idempotent per (message id, delivery index): a crash
// between a successful attempt and the queue recording it leads to the same attempt again,
// which must not produce a second copy.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual AttemptResult attempt(const MessageRecord& message, const Delivery& delivery,
                                const MessageContent& content) = 0;

  // Deliveries of one message that go to the same destination, carried together where the
  // transport can (one SMTP transaction for several recipients): one result per delivery,
  // in their order. This default attempts each alone.
  virtual std::vector<AttemptResult> attempt_together(const MessageRecord& message,
                                                      const std::vector<Delivery>& deliveries,
                                                      const MessageContent& content) {
    std::vector<AttemptResult> results;
    for (const Delivery& d : deliveries) results.push_back(attempt(message, d, content));
    return results;
  }
};

// What an attempt owns while it runs (AsyncTransport): the message, its deliveries to one
// destination, and the content (its header, and the body that reads its pieces on demand),
// shared read-only with the queue and any other attempt.
struct AttemptRequest {
  MessageRecord message;
  std::vector<Delivery> deliveries;  // one message, one destination, one envelope sender
  std::shared_ptr<const MessageContent> content;  // never null
};

// One result per delivery of the request, in its order.
using AttemptDone = std::function<void(std::vector<AttemptResult>)>;

// A transport the queue starts attempts on without giving up a thread for each (DESIGN.md
// section 5: outbound attempts are coroutines with deadlines, not blocked threads).
//
// Thread-safety: start() may be called from any thread, concurrently. It returns at once
// and never blocks on I/O or DNS. `done` is called exactly once per start(), with
// request.deliveries.size() results, from a thread of the transport's own (possibly before
// start() returns); it must not block. An attempt always ends: every transport bounds each
// attempt by deadlines of its own, so `done` is never withheld forever. The idempotency rule
// of Transport holds here too.
class AsyncTransport {
 public:
  virtual ~AsyncTransport() = default;
  virtual void start(AttemptRequest request, AttemptDone done) = 0;
};

}  // namespace herald
