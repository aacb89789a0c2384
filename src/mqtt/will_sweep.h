// Publishes the wills that have waited out their delay, or whose session ended (MQTT 5
// 3.1.3.2.2): the broker routes each, and what persistent sessions take of it and a retained
// will are committed through the StoreWorker, as a PUBLISH of the client that left it.
#pragma once

#include <cstddef>

#include "mqtt/broker.h"
#include "mqtt/store_worker.h"
#include "util/clock.h"

namespace herald::mqtt {

// Takes the wills due by `now` (Broker::take_due_wills) and publishes them, earliest first;
// returns how many. Blocking (a commit per will that persistent sessions or the retained
// store take): call it off the io threads, as the session expiry sweep is. A commit that
// fails is logged and not retried: the copies routed in memory have gone already, and the
// will is not published twice. Thread-safe as `broker` and `worker` are.
size_t publish_due_wills(Broker& broker, StoreWorker& worker, TimePoint now);

}  // namespace herald::mqtt
