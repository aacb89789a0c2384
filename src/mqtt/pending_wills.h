// Wills waiting out their Will Delay Interval (MQTT 5 3.1.3.2.2): one sorted list by when
// each is due, and an index by client id so that a connection resuming the session can
// cancel its will [MQTT-3.1.3-9]. Nothing else knows the timer exists; the Broker holds the
// list under its lock, and a sweep (mqtt/will_sweep.h) publishes what has come due.
//
// In memory only: a restart loses a will still waiting (docs/mqtt.md says so).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mqtt/message.h"
#include "util/clock.h"

namespace herald::mqtt {

// A will whose connection ended, not published yet. The message was made when the
// connection ended, charged to the shared memory budget (its deleter gives the charge back,
// so a will held or dropped here stays counted until it goes); nobody else holds it until
// stamp() shares it.
struct PendingWill {
  std::shared_ptr<Message> message;
  // The will's Message Expiry Interval: it counts from the publication (MQTT 5 3.1.3.2.4),
  // so stamp() sets the expiry, not the session's end.
  std::optional<uint32_t> expiry_interval;
  TimePoint due{};  // the connection's end + the delay
  // Who left it, for the store's record of the message (the ledger, the envelope).
  std::string client_id;
  std::string peer;      // the connection's "ip:port"
  std::string username;  // "" for an anonymous client
};

// The will as published at `now`: received then, its expiry counted from then, and
// `sequence` its arrival number (Broker::next_sequence). Leaves `will.message` null.
SharedMessage stamp(PendingWill& will, TimePoint now, uint64_t sequence);

// Not thread-safe: the Broker's lock guards it. Each client id has at most one will waiting
// (a session has one connection at a time).
class PendingWills {
 public:
  // Waits until `will.due`; a will that was waiting for this client id is dropped (not
  // published: the same session's later connection replaced it).
  void add(PendingWill will);
  // A new connection resumed the session: its will is dropped, never published.
  void cancel(std::string_view client_id);
  // The session ended (clean start, expiry): its will is due at once, and no later
  // connection of the client id (a new session) cancels it.
  void end_session(std::string_view client_id);
  // A will whose session ended before it could wait: due at once, and not cancellable (a
  // connection of this client id now has a new session, which may leave a will of its own).
  void add_ended(PendingWill will);
  // The wills due by `now`, removed, earliest first.
  std::vector<PendingWill> take_due(TimePoint now);

  // Wills waiting, due or not.
  size_t size() const { return by_due_.size(); }

 private:
  using ByDue = std::multimap<TimePoint, PendingWill>;
  ByDue by_due_;
  // Only the wills a connection may still cancel; one whose session ended is in by_due_ only.
  std::unordered_map<std::string, ByDue::iterator> by_client_;
};

}  // namespace herald::mqtt
