// The stored form of herald's records: one JSON object per record, with the field names of
// records.h and store/mqtt_records.h and times as Unix milliseconds, so that an operator
// dumping the store (for example with `ldb scan`) reads envelopes, states and replies without
// a decoder ring. MQTT properties, which are binary, are written as lowercase hex (JSON
// strings are UTF-8); a retained message's payload is not JSON at all (see below).
#pragma once

#include <string>
#include <string_view>

#include "store/mqtt_records.h"
#include "store/records.h"

namespace herald {

// The stored text of the QoS fields, which `herald trace` shows too: RET "FULL", "HDRS" or
// "" (unspecified); BY mode "R", "N" or "" (none); NOTIFY "NEVER", a comma list of
// "SUCCESS", "FAILURE", "DELAY", or "" (not given).
std::string_view to_string(DsnReturn ret);
std::string_view to_string(DeliverByMode mode);
std::string to_string(const NotifyRequest& notify);

// Encoders never fail. Strings are written byte for byte (an 8-bit HELO stays what it was).
// The `mqtt` fields of a message or a delivery are written only when set.
std::string encode_message_record(const MessageRecord& message);
std::string encode_delivery(const Delivery& delivery);
std::string encode_ledger_event(const LedgerEvent& event);
std::string encode_mqtt_session(const MqttSessionRecord& session);
std::string encode_mqtt_inbound_mark(const MqttInboundMark& mark);
// Not JSON: the length of a JSON head as 4 big-endian bytes, the head (every field but the
// payload), then the payload byte for byte, so that a large payload is neither escaped nor
// parsed.
std::string encode_retained_message(const RetainedMessage& retained);

// Decoders throw StoreError (store/store.h) naming what is wrong when `json` is not a record
// of that kind: malformed JSON, a missing or mistyped field, an unknown delivery state.
// Unknown fields are ignored, so that a newer herald's records stay readable; the QoS fields
// (`qos`, `notify`, `original_recipient`) may be missing, as in records of an older herald,
// and then take their defaults; so may `mqtt` (then nullopt).
MessageRecord decode_message_record(std::string_view json);
Delivery decode_delivery(std::string_view json);
LedgerEvent decode_ledger_event(std::string_view json);
MqttSessionRecord decode_mqtt_session(std::string_view json);
MqttInboundMark decode_mqtt_inbound_mark(std::string_view json);
// Also throws when the head's length runs past the value or the payload is empty.
RetainedMessage decode_retained_message(std::string_view stored);

}  // namespace herald
