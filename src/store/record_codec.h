// The stored form of herald's records: one JSON object per record, with the field names of
// records.h and times as Unix milliseconds, so that an operator dumping the store (for
// example with `ldb scan`) reads envelopes, states and replies without a decoder ring.
#pragma once

#include <string>
#include <string_view>

#include "store/records.h"

namespace herald {

// The stored text of the QoS fields, which `herald trace` shows too: RET "FULL", "HDRS" or
// "" (unspecified); BY mode "R", "N" or "" (none); NOTIFY "NEVER", a comma list of
// "SUCCESS", "FAILURE", "DELAY", or "" (not given).
std::string_view to_string(DsnReturn ret);
std::string_view to_string(DeliverByMode mode);
std::string to_string(const NotifyRequest& notify);

// Encoders never fail. Strings are written byte for byte (an 8-bit HELO stays what it was).
std::string encode_message_record(const MessageRecord& message);
std::string encode_delivery(const Delivery& delivery);
std::string encode_ledger_event(const LedgerEvent& event);

// Decoders throw StoreError (store/store.h) naming what is wrong when `json` is not a record
// of that kind: malformed JSON, a missing or mistyped field, an unknown delivery state.
// Unknown fields are ignored, so that a newer herald's records stay readable; the QoS fields
// (`qos`, `notify`, `original_recipient`) may be missing, as in records of an older herald,
// and then take their defaults.
MessageRecord decode_message_record(std::string_view json);
Delivery decode_delivery(std::string_view json);
LedgerEvent decode_ledger_event(std::string_view json);

}  // namespace herald
