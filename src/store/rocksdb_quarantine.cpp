#include "store/rocksdb_quarantine.h"

#include <boost/json.hpp>

namespace herald::store_layout {
namespace json = boost::json;

std::string encode_damaged_record(const DamagedRecord& record) {
  json::object object;
  object["family"] = record.family;
  object["key"] = record.key;
  object["reason"] = record.reason;
  object["bytes"] = record.bytes;
  object["found_at"] = to_unix_ms(record.found_at);
  return json::serialize(object);
}

DamagedRecord decode_damaged_record(std::string_view text) {
  json::parse_options options;
  // The bytes of a damaged record need not be UTF-8; they were written as they were.
  options.allow_invalid_utf8 = true;
  boost::system::error_code ec;
  const json::value value =
      json::parse(json::string_view(text.data(), text.size()), ec, {}, options);
  const json::object* object = ec ? nullptr : value.if_object();
  const auto text_of = [&](std::string_view name) -> std::string {
    const json::value* field = object == nullptr ? nullptr : object->if_contains(name);
    if (field == nullptr || !field->is_string()) {
      throw StoreError("stored quarantine record: field '" + std::string(name) +
                       "' is missing or not a string");
    }
    return std::string(field->get_string());
  };
  DamagedRecord record;
  record.family = text_of("family");
  record.key = text_of("key");
  record.reason = text_of("reason");
  record.bytes = text_of("bytes");
  const json::value* found_at = object->if_contains("found_at");
  if (found_at == nullptr || !found_at->is_int64()) {
    throw StoreError("stored quarantine record: field 'found_at' is missing or not an integer");
  }
  record.found_at = from_unix_ms(found_at->get_int64());
  return record;
}

}  // namespace herald::store_layout
