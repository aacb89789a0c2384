// What an operator sees of the MQTT sessions, connected and persistent ones away (`herald
// mqtt sessions`): who each one is and what it holds of the broker's memory and the store. Taken by
// Broker::snapshot, carried over the control socket (server/control_protocol.h), printed by the
// herald CLI.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mqtt/packet.h"
#include "util/clock.h"

namespace herald::mqtt {

struct SessionSnapshot {
  std::string client_id;
  std::string peer;  // the connection's "ip:port" ("[ip]:port" for IPv6); "offline" for a
                     // persistent session no connection holds
  ProtocolVersion version = ProtocolVersion::v5;
  TimePoint connected{};     // when the broker attached it (its CONNACK)
  size_t subscriptions = 0;  // topic filters it holds, "$share/…" ones included
  // Messages charged to its QueueBudget (waiting and in flight in memory) and, for a
  // persistent session, the copies its queue in the store holds.
  uint32_t held = 0;
  uint64_t held_bytes = 0;
  uint32_t in_flight = 0;  // of `held`: sent at QoS 1 or 2, not yet acknowledged

  bool operator==(const SessionSnapshot&) const = default;
};

// The version as operators name it (and the control protocol writes it): "5" or "3.1.1".
inline std::string_view version_name(ProtocolVersion version) {
  return version == ProtocolVersion::v5 ? "5" : "3.1.1";
}

// The first sessions by client id (byte order) and how many there are in all.
struct SessionList {
  std::vector<SessionSnapshot> sessions;
  size_t total = 0;

  bool operator==(const SessionList&) const = default;
};

// What the control socket asks the MQTT face (server/mqtt_listener.h implements it).
// Thread-safe; it never blocks on I/O, only briefly on the broker's shared lock, for as
// long as copying `limit` sessions takes.
class SessionDirectory {
 public:
  virtual ~SessionDirectory() = default;
  // At most `limit` sessions (nullopt: every one), in client id order, and the total.
  virtual SessionList list_sessions(std::optional<size_t> limit) const = 0;
};

}  // namespace herald::mqtt
