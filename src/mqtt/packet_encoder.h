// Serialising control packets (MQTT 5 section 3, MQTT 3.1.1 section 3), sans I/O: the
// session hands a packet over, gets the bytes to write.
#pragma once

#include <string>
#include <string_view>

#include "mqtt/packet.h"

namespace herald::mqtt {

// The bytes of `packet` in `version`, fixed header included. A CONNECT is written in its
// own Connect::version, whatever `version` says.
//
// In 3.1.1, what that version cannot say is left out: properties, reason codes of
// PUBACK/PUBREC/PUBREL/PUBCOMP/UNSUBACK/DISCONNECT, subscription options other than the
// QoS. A CONNACK reason without a 3.1.1 return code goes out as 3 (server unavailable),
// a SUBACK failure as 0x80. In MQTT 5 the short forms are used where the spec allows them
// (3.4.2.1, 3.14.2.1, 3.15.2.1): no properties and success give no reason code either.
//
// The packet must be representable: strings and binary data of at most 65,535 bytes, a
// body of at most 268,435,455 bytes, a packet identifier at QoS 1 and 2, no AUTH in
// 3.1.1; otherwise std::length_error or std::invalid_argument, since a peer cannot cause
// it. That it is valid (a topic without wildcards, properties the packet may carry) is
// the caller's business: the encoder writes what it is given, which is how tests make
// the packets a hostile peer would send.
std::string encode_packet(const Packet& packet, ProtocolVersion version);

// A PUBLISH as `head` says (head.payload is not read) carrying `payload`, appended to `out`:
// how one payload that many subscribers share is written to each without a copy of its own.
// Throws as encode_packet.
void append_publish(std::string& out, const Publish& head, std::string_view payload,
                    ProtocolVersion version);

}  // namespace herald::mqtt
