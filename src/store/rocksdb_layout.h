// The layout of the RocksDB store (internal to src/store): its column families and how each
// builds its keys. Keys start with the message id, which sorts by arrival time, so a
// message's rows lie together and messages come out oldest first; the indexes start with
// what they are read in order of. Times in keys are Unix milliseconds as 8 big-endian bytes
// offset by 2^63, so that byte order is numeric order, before 1970 too.
//
//   default      "layout"                -> "3" once the indexes below are complete
//                "arriving/" ID          -> empty; a body being written ahead of its commit
//   messages     ID                      -> MessageRecord (JSON, store/record_codec.h)
//   content      ID                      -> the header section (a record with body_pieces 0:
//                                           the whole raw message)
//                ID/PIECE                -> one piece of the body, in blob files; PIECE is
//                                           10 decimal digits
//   deliveries   ID/INDEX                -> Delivery (JSON); INDEX is 10 decimal digits
//   ledger       ID/SEQUENCE             -> LedgerEvent (JSON); SEQUENCE is 20 decimal digits
//   pending      ID/INDEX                -> empty; present while that delivery is not terminal
//   due          TRANSPORT 0x00 BAND TIME ID/INDEX -> empty; one per delivery neither
//                                           terminal nor held, BAND one byte, 9 - its
//                                           priority (0: priority 9, read first), TIME its
//                                           next_attempt
//   finished     TIME ID                 -> empty; one per message with no pending delivery,
//                                           TIME when it finished
//   quarantine   TIME FAMILY 0x00 KEY    -> DamagedRecord (JSON), TIME when it was found
//   mqtt_sessions CLIENT-ID              -> MqttSessionRecord (JSON), a persistent session
//   mqtt_inbound CLIENT-ID 0x00 PACKET-ID -> MqttInboundMark (JSON); PACKET-ID 2 big-endian
//                                           bytes, so a client's marks lie together in
//                                           packet id order (client ids hold no NUL)
//   mqtt_retained TOPIC                  -> RetainedMessage (a JSON head, then the payload;
//                                           store/record_codec.h), one per topic, in topic
//                                           byte order for the prefix reads of SUBSCRIBE
//
// The MQTT families are plain, not in blob files like content, although a retained payload
// may be large: the CLI's secondary instances cannot read blob files, and retained messages
// are few beside bodies. They came after layout 3 without changing its number: a family is
// created empty when a read-write open finds it missing, and an empty family is what a store
// without MQTT state means, so there is nothing to migrate; a read-only open of a store that
// lacks them reads no MQTT state. (A herald older than them cannot open the store read-write
// again: RocksDB requires every family to be named.)
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/slice.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"

namespace herald::store_layout {

inline constexpr const char* kMessages = "messages";
inline constexpr const char* kContent = "content";
inline constexpr const char* kDeliveries = "deliveries";
inline constexpr const char* kLedger = "ledger";
inline constexpr const char* kPending = "pending";
inline constexpr const char* kDue = "due";
inline constexpr const char* kFinished = "finished";
inline constexpr const char* kQuarantine = "quarantine";
inline constexpr const char* kMqttSessions = "mqtt_sessions";
inline constexpr const char* kMqttInbound = "mqtt_inbound";
inline constexpr const char* kMqttRetained = "mqtt_retained";

// The marker in the default family. Stores written before the indexes existed (layout 1)
// have none; layout 2 had due keys without the band. Opening an older store read-write
// brings it to this layout first (store/rocksdb_migration.h).
inline constexpr std::string_view kLayoutKey = "layout";
inline constexpr std::string_view kLayoutVersion = "3";

// Every family with the options it is opened with, content last. `with_content` false
// leaves content out (secondary instances cannot read blob files). `memtable_budget` is the
// store's memtable memory, all families together (DBOptions::db_write_buffer_size): each
// family's own limit is set past it, so that only the budget ever starts a flush.
std::vector<rocksdb::ColumnFamilyDescriptor> column_families(bool with_content,
                                                             size_t memtable_budget);

inline rocksdb::Slice slice(std::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}

// ID/INDEX, the key of a delivery in deliveries and pending.
std::string delivery_key(std::string_view message_id, uint32_t index);
// The inverse of delivery_key; nullopt when `key` is not of that form.
std::optional<DeliveryKey> parse_delivery_key(std::string_view key);
// ID/SEQUENCE.
std::string ledger_key(std::string_view message_id, uint64_t sequence);
// ID/PIECE, a piece of a body in content.
std::string body_piece_key(std::string_view message_id, uint32_t index);
// "arriving/" ID in default: the marker of a body written ahead of its commit.
inline constexpr std::string_view kArrivingPrefix = "arriving/";
std::string arriving_key(std::string_view message_id);
// "ID/": what every row of a message in deliveries and ledger starts with.
std::string rows_prefix(std::string_view message_id);

// The 8 bytes of a time in a key, and back (whole milliseconds, floored).
std::string encode_time(TimePoint t);
TimePoint decode_time(std::string_view eight_bytes);

// The due entry at `position`; its first bytes, TRANSPORT 0x00 BAND, are
// due_prefix(transport, band).
std::string due_key(const DuePosition& position);
std::string due_prefix(std::string_view transport, uint8_t band);
// nullopt when `key` is not a due entry.
std::optional<DuePosition> parse_due_key(std::string_view key);

std::string finished_key(TimePoint finished_at, std::string_view message_id);
// The message id of a finished entry (empty when malformed).
std::string_view finished_message_id(std::string_view key);
// The time a finished or quarantine key starts with (TimePoint::min() when malformed).
TimePoint leading_time(std::string_view key);

std::string quarantine_key(const DamagedRecord& record);

// CLIENT-ID 0x00 PACKET-ID, an inbound mark; every mark of the client starts with
// mqtt_inbound_prefix(client_id), and all of them sort before mqtt_inbound_end(client_id).
std::string mqtt_inbound_key(std::string_view client_id, uint16_t packet_id);
std::string mqtt_inbound_prefix(std::string_view client_id);
std::string mqtt_inbound_end(std::string_view client_id);

}  // namespace herald::store_layout
