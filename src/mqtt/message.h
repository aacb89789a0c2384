// An application message as the broker routes it (MQTT 5 3.3): what a PUBLISH (or a will)
// brought, made immutable and shared by every subscriber it goes to, so that fan-out holds
// one payload however many sessions wait for it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "mqtt/packet.h"
#include "util/clock.h"

namespace herald::mqtt {

struct Message {
  std::string topic;
  QoS qos = QoS::at_most_once;  // as published; each subscriber gets at most its own maximum
  bool retain = false;
  // What travels with the message to subscribers (MQTT 5 3.3.2.3): payload format, content
  // type, response topic, correlation data, user properties. Never a topic alias, a
  // subscription identifier or the expiry interval, which are per delivery.
  Properties properties;
  std::string payload;
  int priority = 0;  // -9..9 (DESIGN.md section 3), from the user property "priority"
  TimePoint received;
  std::optional<TimePoint> expires_at;  // from the Message Expiry Interval
  uint64_t sequence = 0;                // the broker's arrival order, for the oldest-first share
  std::string publisher;                // client identifier ("" for none)

  // Octets it holds, what the queue limits count.
  uint64_t size() const { return topic.size() + payload.size(); }
};

using SharedMessage = std::shared_ptr<const Message>;

// The priority a PUBLISH asks for: its user property "priority" ("-9".."9"); the last one
// given counts; 0 when absent; a value that is not an integer in -9..9 is nullopt, which the
// session refuses (PUBACK 0x99 would misname it, so 0x83 implementation specific).
std::optional<int> priority_of(const Properties& properties);

}  // namespace herald::mqtt
