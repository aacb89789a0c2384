// What a CONNECT settles between a client and herald, and the CONNACK that says so (MQTT 5
// 3.1 and 3.2, MQTT 3.1.1 3.1 and 3.2): the client identifier (assigned when empty), keep
// alive, session expiry, and the limits each side must keep towards the other (receive
// maximum, maximum packet size, topic aliases). Who the client is and what it may do is the
// directory's business, decided before or after this.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mqtt/packet.h"

namespace herald::mqtt {

// herald's side of the bargain ([mqtt] keys, with safe defaults).
struct ServerTerms {
  // The longest keep alive a client may have. MQTT 5 clients asking for none or more are
  // told this one (Server Keep Alive); MQTT 3.1.1 has no way to say so, and such a client is
  // refused (CONNACK 0x02), as Mosquitto does: an idle connection held for ever is a slot a
  // hostile client never gives back. At least 1 s.
  std::chrono::seconds max_keepalive{300};
  // The longest a session outlives its connection (seconds); a longer ask is cut to it and
  // the CONNACK says so. MQTT 3.1.1's clean session 0 asks for "for ever".
  uint32_t max_session_expiry = 7 * 24 * 3600;
  // QoS 1 and 2 PUBLISHes a client may have unacknowledged towards herald (0x93 past it).
  uint16_t receive_maximum = 100;
  // QoS 1 and 2 PUBLISHes herald leaves unacknowledged towards one client, whatever larger
  // Receive Maximum the client allows: what a session holds in flight stays small.
  uint16_t max_in_flight = 100;
  uint32_t maximum_packet_size = 1024 * 1024;  // the decoder's limit
  uint16_t topic_alias_maximum = 16;           // aliases a client may set
  size_t max_client_id_length = 256;           // octets; MQTT 5 requires 23 to be allowed
};

// What herald keeps to with one connection once its CONNECT is accepted.
struct SessionTerms {
  ProtocolVersion version = ProtocolVersion::v5;
  std::string client_id;  // as sent, or the one herald assigned
  bool client_id_assigned = false;
  bool clean_start = true;
  // 0: none. The connection is closed after one and a half times this without a packet
  // from the client (MQTT 5 3.1.2.10).
  std::chrono::seconds keep_alive{0};
  // Seconds the session outlives the connection: 0 ends it with the connection,
  // kSessionNeverExpires keeps it until the client cleans it.
  uint32_t session_expiry = 0;
  uint16_t client_receive_maximum = 65'535;  // as the client allows (absent: 65,535)
  // QoS > 0 PUBLISHes herald leaves unacked: the client's maximum or herald's, the smaller.
  uint16_t send_quota = 65'535;
  uint16_t server_receive_maximum = 65'535;  // what herald accepts unacked from the client
  std::optional<uint32_t> client_maximum_packet_size;  // herald sends nothing larger
  uint32_t server_maximum_packet_size = 0;
  uint16_t client_topic_alias_maximum = 0;  // aliases herald may set towards the client
  uint16_t server_topic_alias_maximum = 0;  // aliases the client may set (0x94 past it)
  // MQTT 5 3.1.2.11.7: false keeps reason strings and user properties out of everything
  // but PUBLISH, CONNACK and DISCONNECT.
  bool request_problem_information = true;
  std::optional<uint32_t> will_delay;  // seconds, MQTT 5 3.1.3.2.2
};

inline constexpr uint32_t kSessionNeverExpires = 0xFFFF'FFFF;  // MQTT 5 3.1.2.11.2

struct ConnectOutcome {
  // To send, accepted or not. session_present is left false: whether a stored session was
  // resumed is the session store's to say.
  Connack connack;
  // Set when connack.reason is success; the connection closes after a refusal.
  std::optional<SessionTerms> terms;
};

// The terms for `connect` (decoded, so well formed) under `server`. `fresh_client_id` is
// used when the client sent an empty one and may have one assigned (MQTT 5 3.1.3.1; in
// 3.1.1 only with clean session, else CONNACK 0x02). Refuses a client identifier longer
// than max_client_id_length with 0x85 (0x02 in 3.1.1). Total and pure: the same input
// gives the same outcome.
ConnectOutcome settle_connect(const Connect& connect, const ServerTerms& server,
                              std::string_view fresh_client_id);

}  // namespace herald::mqtt
