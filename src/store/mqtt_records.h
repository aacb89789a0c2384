// What the store keeps of the MQTT face beside messages and deliveries (docs/mqtt.md): the
// persistent sessions (subscriptions and expiry, rebuilt into the broker at start), the
// inbound QoS 2 exchanges of persistent publishers (so that a PUBLISH sent again after a
// crash is recognised), and the retained messages, one per topic. An MQTT message itself is
// a MessageRecord with `mqtt` set, its payload the content's body; each copy of it for a
// persistent session is a Delivery with `mqtt` set on transport "mqtt:" CLIENT-ID, so that
// a session's offline queue is its slice of the due index, in priority order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/clock.h"

namespace herald {

// The transport name of the deliveries of persistent session `client_id`.
inline std::string mqtt_transport(std::string_view client_id) {
  return "mqtt:" + std::string(client_id);
}

// One subscription of a persistent session, as SUBSCRIBE gave it.
struct StoredSubscription {
  std::string filter;  // as subscribed, "$share/GROUP/…" included
  uint8_t options = 0;  // the SUBSCRIBE options byte (MQTT 5 3.8.3.1)
  std::optional<uint32_t> identifier;

  bool operator==(const StoredSubscription&) const = default;
};

// A session that outlives its connection (session expiry interval > 0).
struct MqttSessionRecord {
  std::string client_id;
  uint8_t version = 5;               // 4: MQTT 3.1.1, 5: MQTT 5.0
  uint32_t expiry_interval = 0;      // seconds; 0xFFFFFFFF never expires
  std::optional<TimePoint> disconnected_at;  // none while a connection holds it
  std::vector<StoredSubscription> subscriptions;

  bool operator==(const MqttSessionRecord&) const = default;
};

// An inbound QoS 2 PUBLISH of a persistent session that was stored and answered with
// PUBREC, until its PUBREL (MQTT 5 4.3.3): the same packet id sent again is not a new
// message.
struct MqttInboundMark {
  std::string client_id;
  uint16_t packet_id = 0;
  std::string message_id;  // the herald message it was stored as ("" when nobody kept it)

  bool operator==(const MqttInboundMark&) const = default;
};

// The retained message of one topic (MQTT 5 3.3.1.3).
struct RetainedMessage {
  std::string topic;
  uint8_t qos = 0;
  std::string properties;  // the forwarded properties as MQTT 5 encodes them (opaque here)
  std::string payload;     // never empty: an empty retained payload erases the topic's
  int priority = 0;
  TimePoint received;
  std::optional<TimePoint> expires_at;
  std::string message_id;  // the herald message id it was published as

  bool operator==(const RetainedMessage&) const = default;
};

}  // namespace herald
