// The SMTP transport's blocking face (Transport, queue/transport.h), for callers that give
// each attempt a thread of their own: start() and a wait for its done.
#include <future>
#include <utility>

#include "transport/smtp_transport.h"

namespace herald {

AttemptResult SmtpTransport::attempt(const MessageRecord& message, const Delivery& delivery,
                                     const MessageContent& content) {
  return attempt_together(message, {delivery}, content).front();
}

// The content's header is copied into the request and its body shared (never copied):
// start() may outlive this call only in the destructor's case, and then must not read a
// caller's object that is gone.
std::vector<AttemptResult> SmtpTransport::attempt_together(const MessageRecord& message,
                                                           const std::vector<Delivery>& deliveries,
                                                           const MessageContent& content) {
  std::promise<std::vector<AttemptResult>> promise;
  std::future<std::vector<AttemptResult>> future = promise.get_future();
  start(AttemptRequest{message, deliveries, std::make_shared<const MessageContent>(content)},
        [&promise](std::vector<AttemptResult> results) { promise.set_value(std::move(results)); });
  return future.get();
}

}  // namespace herald
