// The RocksDB store's MQTT face (store/rocksdb_store.h): persistent sessions, the inbound
// QoS 2 marks of their publishers and the retained messages, in the families of
// store/rocksdb_layout.h. They are written only through apply, in its batch. Each reader
// quarantines a record it cannot decode and goes on, as the queue's readers do: one damaged
// session must not keep every other from being restored at start.
#include <spdlog/spdlog.h>

#include <stdexcept>

#include "store/record_codec.h"
#include "store/rocksdb_quarantine.h"
#include "store/rocksdb_store.h"

namespace herald::store_layout {

bool RocksDbStore::has_mqtt_parts(const StoreWrite& parts) {
  return !parts.sessions_put.empty() || !parts.sessions_erased.empty() ||
         !parts.inbound_put.empty() || !parts.inbound_erased.empty() ||
         !parts.retained_put.empty() || !parts.retained_erased.empty();
}

void RocksDbStore::add_mqtt_parts(rocksdb::WriteBatch& batch, const StoreWrite& parts) {
  for (const RetainedMessage& m : parts.retained_put) {
    if (m.payload.empty()) {
      throw std::invalid_argument("retained message of topic " + m.topic +
                                  " has an empty payload (that erases the topic's)");
    }
  }
  for (const MqttSessionRecord& s : parts.sessions_put) {
    put(batch, mqtt_sessions_, s.client_id, encode_mqtt_session(s));
  }
  for (const std::string& client_id : parts.sessions_erased) {
    erase(batch, mqtt_sessions_, client_id);
    // One range rather than a walk of the marks: it reads nothing, and covers a mark that a
    // write committed just before this one put.
    check(batch.DeleteRange(mqtt_inbound_, slice(mqtt_inbound_prefix(client_id)),
                            slice(mqtt_inbound_end(client_id))));
  }
  for (const MqttInboundMark& mark : parts.inbound_put) {
    put(batch, mqtt_inbound_, mqtt_inbound_key(mark.client_id, mark.packet_id),
        encode_mqtt_inbound_mark(mark));
  }
  for (const auto& [client_id, packet_id] : parts.inbound_erased) {
    erase(batch, mqtt_inbound_, mqtt_inbound_key(client_id, packet_id));
  }
  for (const RetainedMessage& m : parts.retained_put) {
    put(batch, mqtt_retained_, m.topic, encode_retained_message(m));
  }
  for (const std::string& topic : parts.retained_erased) erase(batch, mqtt_retained_, topic);
}

void RocksDbStore::for_each_mqtt_session(
    const std::function<bool(const MqttSessionRecord&)>& visit) {
  if (mqtt_sessions_ == nullptr) return;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, mqtt_sessions_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::optional<MqttSessionRecord> session;
    try {
      session = decode_mqtt_session(it->value().ToStringView());
    } catch (const StoreError& error) {
      quarantine_mqtt_record(mqtt_sessions_, kMqttSessions, it->key().ToString(), error.what(),
                             it->value().ToStringView());
      continue;
    }
    if (!visit(*session)) return;
  }
  check(it->status());
}

std::vector<MqttInboundMark> RocksDbStore::mqtt_inbound(std::string_view client_id) {
  std::vector<MqttInboundMark> out;
  if (mqtt_inbound_ == nullptr) return out;
  const std::string end = mqtt_inbound_end(client_id);
  const rocksdb::Slice bound = slice(end);
  rocksdb::ReadOptions options;
  options.iterate_upper_bound = &bound;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, mqtt_inbound_));
  for (it->Seek(slice(mqtt_inbound_prefix(client_id))); it->Valid(); it->Next()) {
    try {
      out.push_back(decode_mqtt_inbound_mark(it->value().ToStringView()));
    } catch (const StoreError& error) {
      quarantine_mqtt_record(mqtt_inbound_, kMqttInbound, it->key().ToString(), error.what(),
                             it->value().ToStringView());
    }
  }
  check(it->status());
  return out;
}

std::vector<RetainedMessage> RocksDbStore::retained(std::string_view prefix, std::string_view after,
                                                    size_t limit) {
  std::vector<RetainedMessage> out;
  if (mqtt_retained_ == nullptr || limit == 0) return out;
  // From the later of the prefix and `after`: before the prefix nothing matches.
  const std::string_view start = after > prefix ? after : prefix;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, mqtt_retained_));
  for (it->Seek(slice(start)); it->Valid() && out.size() < limit; it->Next()) {
    const std::string_view topic = it->key().ToStringView();
    if (!topic.starts_with(prefix)) break;
    if (!after.empty() && topic == after) continue;
    try {
      out.push_back(decode_retained_message(it->value().ToStringView()));
    } catch (const StoreError& error) {
      quarantine_mqtt_record(mqtt_retained_, kMqttRetained, std::string(topic), error.what(),
                             it->value().ToStringView());
    }
  }
  check(it->status());
  return out;
}

void RocksDbStore::quarantine_mqtt_record(rocksdb::ColumnFamilyHandle* family,
                                          std::string_view name, const std::string& key,
                                          std::string_view reason, std::string_view bytes) {
  const DamagedRecord record{std::string(name), key, std::string(reason), std::string(bytes),
                             std::chrono::system_clock::now()};
  if (!can_quarantine(record)) return;
  std::lock_guard lock(mqtt_lock_);
  if (get(family, key) != bytes) return;
  rocksdb::WriteBatch batch;
  put(batch, quarantine_, quarantine_key(record), encode_damaged_record(record));
  erase(batch, family, key);
  write(batch);
  log_quarantined(record);
}

}  // namespace herald::store_layout
