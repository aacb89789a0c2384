#include "mqtt/will_sweep.h"

#include <spdlog/spdlog.h>

#include <utility>
#include <vector>

namespace herald::mqtt {

size_t publish_due_wills(Broker& broker, StoreWorker& worker, TimePoint now) {
  std::vector<PendingWill> due = broker.take_due_wills(now);
  for (PendingWill& will : due) {
    const SharedMessage message = stamp(will, now, broker.next_sequence());
    PublishResult result = broker.publish(message, std::nullopt);
    if (result.refused_full || (result.kept.empty() && !message->retain)) continue;
    StoreRequest request{.client_id = std::move(will.client_id),
                         .peer = std::move(will.peer),
                         .username = std::move(will.username)};
    request.publishes.push_back(
        PublishToKeep{.message = message, .copies = std::move(result.kept)});
    // perform() logs the StoreError and gives back what the copies held of the queues.
    if (const StoreResult stored = worker.perform(request); !stored.ok) {
      spdlog::error("mqtt will client='{}' topic='{}': not committed: {}", request.client_id,
                    message->topic, stored.error);
    }
  }
  return due.size();
}

}  // namespace herald::mqtt
