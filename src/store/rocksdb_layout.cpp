#include "store/rocksdb_layout.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace herald::store_layout {
namespace {

// Content this large or larger goes to blob files: compaction then moves a small pointer
// instead of rewriting the body each time a level is merged.
constexpr uint64_t kMinBlobSize = 2048;

constexpr size_t kTimeBytes = 8;
constexpr size_t kIndexDigits = 10;

}  // namespace

std::vector<rocksdb::ColumnFamilyDescriptor> column_families(bool with_content,
                                                             size_t memtable_budget) {
  rocksdb::ColumnFamilyOptions plain;
  // A family whose own memtable fills is flushed by a path of RocksDB 7.8 (ScheduleFlushes)
  // that, when switching the memtable fails (a write error, a full disk), keeps a reference
  // to every other family waiting with it, and closing the store then aborts the process.
  // The budget's flushes (HandleWriteBufferManagerFlush) take one family at a time and do
  // not: the budget flushes at 7/8 of itself, long before any family reaches twice it.
  plain.write_buffer_size = 2 * memtable_budget;
  // Arena blocks small beside the budget, so that a dozen families each holding a little do
  // not make it flush at once (RocksDB would size them from write_buffer_size).
  plain.arena_block_size = std::min<size_t>(size_t{1} << 20, memtable_budget / 32);
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, plain},
      {kMessages, plain},
      {kDeliveries, plain},
      {kLedger, plain},
      {kPending, plain},
      {kDue, plain},
      {kFinished, plain},
      {kQuarantine, plain},
      {kMqttSessions, plain},
      {kMqttInbound, plain},
      {kMqttRetained, plain},
  };
  if (with_content) {
    rocksdb::ColumnFamilyOptions content = plain;
    content.enable_blob_files = true;
    content.min_blob_size = kMinBlobSize;
    // Content is deleted once every delivery of its message is final; garbage collection
    // reclaims the blob files that then hold mostly dead bodies.
    content.enable_blob_garbage_collection = true;
    families.emplace_back(kContent, content);
  }
  return families;
}

std::string delivery_key(std::string_view message_id, uint32_t index) {
  char digits[kIndexDigits + 1];
  std::snprintf(digits, sizeof digits, "%010u", index);
  return std::string(message_id) + "/" + digits;
}

std::string body_piece_key(std::string_view message_id, uint32_t index) {
  return delivery_key(message_id, index);  // the same form: ID/ then ten digits
}

std::string arriving_key(std::string_view message_id) {
  return std::string(kArrivingPrefix) + std::string(message_id);
}

std::optional<DeliveryKey> parse_delivery_key(std::string_view key) {
  if (key.size() < kIndexDigits + 2 || key[key.size() - kIndexDigits - 1] != '/') {
    return std::nullopt;
  }
  const std::string_view digits = key.substr(key.size() - kIndexDigits);
  DeliveryKey parsed;
  const auto [end, error] =
      std::from_chars(digits.data(), digits.data() + digits.size(), parsed.index);
  if (error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  parsed.message_id = std::string(key.substr(0, key.size() - kIndexDigits - 1));
  return parsed;
}

std::string ledger_key(std::string_view message_id, uint64_t sequence) {
  char digits[21];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(sequence));
  return std::string(message_id) + "/" + digits;
}

std::string rows_prefix(std::string_view message_id) {
  return std::string(message_id) + "/";
}

std::string encode_time(TimePoint t) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const uint64_t ordered = static_cast<uint64_t>(ms) ^ (uint64_t{1} << 63);
  std::string bytes(kTimeBytes, '\0');
  for (size_t i = 0; i < kTimeBytes; ++i) {
    bytes[i] = static_cast<char>(ordered >> (8 * (kTimeBytes - 1 - i)));
  }
  return bytes;
}

TimePoint decode_time(std::string_view eight_bytes) {
  uint64_t ordered = 0;
  for (size_t i = 0; i < kTimeBytes; ++i) {
    ordered = (ordered << 8) | static_cast<unsigned char>(eight_bytes[i]);
  }
  return from_unix_ms(static_cast<int64_t>(ordered ^ (uint64_t{1} << 63)));
}

std::string due_prefix(std::string_view transport, uint8_t band) {
  std::string prefix(transport);
  prefix.push_back('\0');
  prefix.push_back(static_cast<char>(band));
  return prefix;
}

std::string due_key(const DuePosition& position) {
  return due_prefix(position.transport, position.band) + encode_time(position.due) +
         delivery_key(position.message_id, position.index);
}

std::optional<DuePosition> parse_due_key(std::string_view key) {
  // Transport names hold no NUL, so the first one ends the transport.
  const size_t end_of_transport = key.find('\0');
  if (end_of_transport == std::string_view::npos ||
      key.size() < end_of_transport + 2 + kTimeBytes) {
    return std::nullopt;
  }
  const auto band = static_cast<uint8_t>(key[end_of_transport + 1]);
  if (band >= DuePosition::kBands) return std::nullopt;
  const auto delivery = parse_delivery_key(key.substr(end_of_transport + 2 + kTimeBytes));
  if (!delivery) return std::nullopt;
  DuePosition position;
  position.transport = std::string(key.substr(0, end_of_transport));
  position.band = band;
  position.due = decode_time(key.substr(end_of_transport + 2, kTimeBytes));
  position.message_id = delivery->message_id;
  position.index = delivery->index;
  return position;
}

std::string finished_key(TimePoint finished_at, std::string_view message_id) {
  return encode_time(finished_at) + std::string(message_id);
}

std::string_view finished_message_id(std::string_view key) {
  return key.size() > kTimeBytes ? key.substr(kTimeBytes) : std::string_view();
}

TimePoint leading_time(std::string_view key) {
  return key.size() >= kTimeBytes ? decode_time(key.substr(0, kTimeBytes)) : TimePoint::min();
}

std::string quarantine_key(const DamagedRecord& record) {
  std::string key = encode_time(record.found_at) + record.family;
  key.push_back('\0');
  key += record.key;
  return key;
}

std::string mqtt_inbound_prefix(std::string_view client_id) {
  std::string prefix(client_id);
  prefix.push_back('\0');
  return prefix;
}

std::string mqtt_inbound_end(std::string_view client_id) {
  std::string end(client_id);
  end.push_back('\1');
  return end;
}

std::string mqtt_inbound_key(std::string_view client_id, uint16_t packet_id) {
  std::string key = mqtt_inbound_prefix(client_id);
  key.push_back(static_cast<char>(packet_id >> 8));
  key.push_back(static_cast<char>(packet_id & 0xff));
  return key;
}

}  // namespace herald::store_layout
