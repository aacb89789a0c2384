#include "mqtt/connect_terms.h"

#include <fmt/format.h>

#include <algorithm>

namespace herald::mqtt {
namespace {

constexpr uint16_t kNoReceiveLimit = 65'535;  // MQTT 5 3.1.2.11.3: absent means this

ConnectOutcome refuse(ReasonCode reason, std::string why) {
  ConnectOutcome out;
  out.connack.reason = reason;
  out.connack.properties.reason_string = std::move(why);
  return out;
}

// The client identifier, or the refusal of it.
std::optional<ConnectOutcome> settle_client_id(const Connect& connect, const ServerTerms& server,
                                               std::string_view fresh, SessionTerms& terms,
                                               Connack& connack) {
  if (connect.client_id.size() > server.max_client_id_length) {
    return refuse(
        ReasonCode::client_identifier_not_valid,
        fmt::format("client identifier longer than {} octets", server.max_client_id_length));
  }
  if (!connect.client_id.empty()) {
    terms.client_id = connect.client_id;
    return std::nullopt;
  }
  // MQTT 3.1.1 3.1.3.1 [MQTT-3.1.3-8]: an empty identifier only with a clean session.
  if (connect.version == ProtocolVersion::v3_1_1 && !connect.clean_start) {
    return refuse(ReasonCode::client_identifier_not_valid,
                  "an empty client identifier needs a clean session");
  }
  terms.client_id = std::string(fresh);
  terms.client_id_assigned = true;
  // [MQTT-3.1.3-7]; 3.1.1 has no way to tell the client.
  if (connect.version == ProtocolVersion::v5) connack.properties.assigned_client_identifier = fresh;
  return std::nullopt;
}

// Keep alive within the maximum, or the maximum told to an MQTT 5 client, or the refusal.
std::optional<ConnectOutcome> settle_keep_alive(const Connect& connect, const ServerTerms& server,
                                                SessionTerms& terms, Connack& connack) {
  const std::chrono::seconds asked(connect.keep_alive);
  if (connect.keep_alive != 0 && asked <= server.max_keepalive) {
    terms.keep_alive = asked;
    return std::nullopt;
  }
  if (connect.version == ProtocolVersion::v5) {
    // [MQTT-3.2.2-21]: the client must use the Server Keep Alive instead.
    terms.keep_alive = std::min(server.max_keepalive, std::chrono::seconds(65'535));
    connack.properties.server_keep_alive = static_cast<uint16_t>(terms.keep_alive.count());
    return std::nullopt;
  }
  return refuse(ReasonCode::client_identifier_not_valid,
                fmt::format("keep alive {} s is not within herald's maximum of {} s",
                            connect.keep_alive, server.max_keepalive.count()));
}

void settle_session_expiry(const Connect& connect, const ServerTerms& server, SessionTerms& terms,
                           Connack& connack) {
  const bool v5 = connect.version == ProtocolVersion::v5;
  const uint32_t asked = v5 ? connect.properties.session_expiry_interval.value_or(0)
                            : (connect.clean_start ? 0 : kSessionNeverExpires);
  terms.session_expiry = std::min(asked, server.max_session_expiry);
  // MQTT 5 3.2.2.3.2: a server that uses another value than the client's says which.
  if (v5 && terms.session_expiry != asked) {
    connack.properties.session_expiry_interval = terms.session_expiry;
  }
}

// Receive maximum, packet size and topic aliases, each way.
void settle_limits(const Connect& connect, const ServerTerms& server, SessionTerms& terms,
                   Connack& connack) {
  const Properties& asked = connect.properties;
  terms.client_receive_maximum = asked.receive_maximum.value_or(kNoReceiveLimit);
  terms.send_quota = std::min(terms.client_receive_maximum, server.max_in_flight);
  terms.server_receive_maximum = server.receive_maximum;
  terms.client_maximum_packet_size = asked.maximum_packet_size;
  terms.server_maximum_packet_size = server.maximum_packet_size;
  terms.client_topic_alias_maximum = asked.topic_alias_maximum.value_or(0);
  terms.request_problem_information = asked.request_problem_information.value_or(true);
  if (connect.will) terms.will_delay = connect.will->properties.will_delay_interval;
  if (connect.version != ProtocolVersion::v5) return;  // 3.1.1 has no way to say these
  terms.server_topic_alias_maximum = server.topic_alias_maximum;
  if (server.receive_maximum != kNoReceiveLimit) {
    connack.properties.receive_maximum = server.receive_maximum;
  }
  connack.properties.maximum_packet_size = server.maximum_packet_size;
  if (server.topic_alias_maximum != 0) {
    connack.properties.topic_alias_maximum = server.topic_alias_maximum;
  }
}

}  // namespace

ConnectOutcome settle_connect(const Connect& connect, const ServerTerms& server,
                              std::string_view fresh_client_id) {
  SessionTerms terms;
  terms.version = connect.version;
  terms.clean_start = connect.clean_start;
  Connack connack;
  if (auto refused = settle_client_id(connect, server, fresh_client_id, terms, connack)) {
    return std::move(*refused);
  }
  if (auto refused = settle_keep_alive(connect, server, terms, connack)) {
    return std::move(*refused);
  }
  settle_session_expiry(connect, server, terms, connack);
  settle_limits(connect, server, terms, connack);
  return ConnectOutcome{std::move(connack), std::move(terms)};
}

}  // namespace herald::mqtt
