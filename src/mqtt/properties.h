// Reading and writing MQTT 5 property lists (MQTT 5 2.2.2), with the rule of table 2-4 on
// which packet may carry which property.
#pragma once

#include <string>

#include "mqtt/packet.h"
#include "mqtt/wire.h"

namespace herald::mqtt {

// Where a property list sits. The will properties of a CONNECT (3.1.3.2) have a set of
// their own.
enum class PropertyContext {
  connect,
  connack,
  publish,
  will,
  puback,
  pubrec,
  pubrel,
  pubcomp,
  subscribe,
  suback,
  unsubscribe,
  unsuback,
  disconnect,
  auth,
};

// Reads a property length and the properties it covers into `properties`. Failures go to
// the reader: an unknown property id, or one table 2-4 does not allow in `context`, is a
// malformed packet; a property given twice (only the user property, and the subscription
// identifier in PUBLISH, may repeat), a value outside its range (a byte that must be 0 or
// 1, a receive maximum, maximum packet size, topic alias or subscription identifier of 0)
// or authentication data without an authentication method is a protocol error
// (2.2.2.2 and the section of each property).
void read_properties(WireReader& reader, PropertyContext context, Properties& properties);

// Writes the property length and every property set in `properties`, in property id
// order. Which ones belong in the packet is the caller's business.
void write_properties(WireWriter& writer, const Properties& properties);

}  // namespace herald::mqtt
