// `herald mqtt sessions`: the MQTT sessions heraldd has connected now (read over its control
// socket, server/control_protocol.h) as a table for the operator's terminal.
#pragma once

#include <cstddef>
#include <optional>
#include <ostream>

#include "mqtt/session_snapshot.h"

namespace herald {

// Writes `list` to `out`: a header, then one row a session,
//
//   CLIENT  PEER  VERSION  CONNECTED  SUBSCRIPTIONS  QUEUED  IN-FLIGHT  BYTES
//
// then "N sessions" ("1 session"), or "N of TOTAL sessions" when `list` holds fewer than
// there are. With no session at all the one line is "0 sessions". CLIENT and PEER are as wide
// as their longest value, CLIENT at most 32 characters (a longer one is cut and ends in `~`,
// printable_text.h truncated; widths count bytes, so a non-ASCII id may sit a little left of
// its column's end); both are printed through printable(). CONNECTED is UTC
// (format_utc); QUEUED is the messages waiting to be sent (held, less those in flight);
// BYTES what the waiting and in-flight messages hold. Throws whatever `out` throws.
void write_mqtt_sessions(const mqtt::SessionList& list, std::ostream& out);

}  // namespace herald
