// What a Session asks of the store and what it is told back (mqtt/store_worker.h does the
// asking): the sans-I/O seam between a persistent session and the disk, as credentials are
// between a CONNECT and crypt(3). A session has at most one request out at a time; what it
// needs meanwhile gathers into the next one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mqtt/broker.h"
#include "mqtt/message.h"
#include "mqtt/session_queue.h"
#include "store/mqtt_records.h"
#include "store/records.h"

namespace herald::mqtt {

// A PUBLISH to commit before it is answered: the message and its copies for persistent
// sessions, and, for a persistent publisher's QoS 2, the mark that makes the same packet id
// sent again after a crash the same message (MQTT 5 4.3.3).
// A retained one (message->retain) also replaces its topic's retained message, or, with an
// empty payload, removes it (MQTT 5 3.3.1.3).
struct PublishToKeep {
  SharedMessage message;
  std::vector<KeptCopy> copies;
  std::optional<uint16_t> inbound_mark;
};

// The retained messages a new subscription gets (MQTT 5 3.3.1.3, 3.8.4), read a page at a
// time from the topics after `after`.
struct RetainedRead {
  std::string filter;  // never a shared one: shared subscriptions get no retained messages
  QoS max_qos = QoS::at_most_once;
  std::optional<uint32_t> identifier;
  std::string after;  // "" from the first topic
};

// What the session's own queue read should leave out: the copies it holds already (queued
// or in flight), and how many more it takes.
struct QueueRead {
  size_t limit = 0;
  std::vector<DeliveryKey> skip;
};

struct StoreRequest {
  // Who asks, for the ledger and the keys.
  std::string client_id;
  std::string peer;      // the connection's "ip:port"
  std::string username;  // "" for an anonymous client

  std::vector<PublishToKeep> publishes;      // committed together, in order
  std::optional<MqttSessionRecord> session;  // the session's record to write
  // The session of this client id ends (a DISCONNECT with expiry 0, or clean start ending a
  // stored one): its record and marks go and its queue ends, before the rest of the request
  // (which may write the record of a new session).
  bool erase_session = false;
  bool load_inbound = false;  // read the session's inbound QoS 2 marks (a resumed session)
  std::vector<uint16_t> inbound_released;  // marks to remove (PUBREL)
  // Stored copies the client acknowledged (PUBACK, or PUBREC at QoS 2), as they were read.
  std::vector<std::shared_ptr<const Delivery>> delivered;
  std::vector<std::shared_ptr<const Delivery>> expired;  // stored copies past their expiry
  // Stored copies about to be sent at QoS 2 for the first time, each with the packet id it
  // goes with (MqttCopyFields::packet_id): written before the PUBLISH, so that after a crash
  // it is sent again as the same exchange (DUP, same id) and the client keeps it once.
  std::vector<std::shared_ptr<const Delivery>> sending;
  std::optional<QueueRead> read;
  std::optional<RetainedRead> retained;

  bool empty() const {
    return publishes.empty() && !session && !erase_session && !load_inbound &&
           inbound_released.empty() && delivered.empty() && expired.empty() && sending.empty() &&
           !read && !retained;
  }
};

struct StoreResult {
  bool ok = true;  // false: nothing of the request was written (StoreError), `error` says why
  std::string error;
  std::vector<std::string> message_ids;  // of the publishes, in order
  std::vector<MqttInboundMark> inbound;  // when load_inbound
  // Read from the queue, each with `stored` set; then the retained ones (RETAIN set, no
  // `stored`), charged to the shared memory budget but not to the session's QueueBudget.
  std::vector<Outgoing> copies;
  bool more = false;  // the queue read stopped at its limit
  // The retained read stopped at its page: where to go on from (nullopt: done).
  std::optional<std::string> retained_after;
};

// The SUBSCRIBE options byte (MQTT 5 3.8.3.1) as a persistent session's record keeps it, and
// back; nullopt for a byte no SUBSCRIBE could have carried.
uint8_t stored_options(const SubscriptionOptions& options);
std::optional<SubscriptionOptions> options_of_stored(uint8_t byte);

}  // namespace herald::mqtt
