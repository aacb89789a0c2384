#include "store/record_codec.h"

#include <algorithm>
#include <boost/json.hpp>
#include <optional>

#include "store/store.h"

namespace herald {
namespace json = boost::json;
namespace {

// Binary strings (MQTT properties) in JSON, whose strings must be UTF-8: two lowercase hex
// digits a byte, which an operator can still compare with a packet dump.
std::string encode_hex(std::string_view bytes) {
  constexpr std::string_view kDigits = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * bytes.size());
  for (const unsigned char byte : bytes) {
    hex.push_back(kDigits[byte >> 4]);
    hex.push_back(kDigits[byte & 0x0f]);
  }
  return hex;
}

int hex_digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// nullopt when `hex` is not whole bytes in hex digits.
std::optional<std::string> decode_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string bytes;
  bytes.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int high = hex_digit_value(hex[i]);
    const int low = hex_digit_value(hex[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    bytes.push_back(static_cast<char>((high << 4) | low));
  }
  return bytes;
}

// Reads the fields of one decoded record; every failure names the record and the field so
// that a damaged store says where it is damaged.
class FieldReader {
 public:
  FieldReader(const json::object& object, std::string_view record)
      : object_(object), record_(record) {}

  std::string string(std::string_view key) const {
    const json::value& v = field(key);
    if (!v.is_string()) fail(key, "a string");
    return std::string(v.get_string());
  }

  template <typename Integer>
  Integer integer(std::string_view key) const {
    boost::system::error_code ec;
    const Integer n = field(key).to_number<Integer>(ec);
    if (ec) fail(key, "an integer in range");
    return n;
  }

  bool has(std::string_view key) const { return object_.contains(key); }

  bool boolean(std::string_view key) const {
    const json::value& v = field(key);
    if (!v.is_bool()) fail(key, "true or false");
    return v.get_bool();
  }

  // Unix milliseconds that a TimePoint (nanoseconds in 64 bits, up to the year 2262) holds.
  TimePoint time(std::string_view key) const {
    constexpr int64_t kLimit = 9'000'000'000'000;
    const auto ms = integer<int64_t>(key);
    if (ms < -kLimit || ms > kLimit) fail(key, "a time herald can represent");
    return from_unix_ms(ms);
  }

  const json::array& array(std::string_view key) const {
    const json::value& v = field(key);
    if (!v.is_array()) fail(key, "an array");
    return v.get_array();
  }

  // A time that may be absent (or null): nullopt then.
  std::optional<TimePoint> optional_time(std::string_view key) const {
    const json::value* v = object_.if_contains(key);
    if (v == nullptr || v->is_null()) return std::nullopt;
    return time(key);
  }

  // Bytes written as hex (encode_hex).
  std::string hex_bytes(std::string_view key) const {
    auto bytes = decode_hex(string(key));
    if (!bytes) fail(key, "bytes in hex");
    return std::move(*bytes);
  }

  // An MQTT QoS level (MQTT 5 4.3): 0, 1 or 2.
  uint8_t mqtt_qos(std::string_view key) const {
    const auto qos = integer<uint8_t>(key);
    if (qos > 2) fail(key, "a QoS of 0, 1 or 2");
    return qos;
  }

  const json::object& object(std::string_view key) const {
    const json::value& v = field(key);
    if (!v.is_object()) fail(key, "an object");
    return v.get_object();
  }

  [[noreturn]] void fail(std::string_view key, std::string_view expected) const {
    throw StoreError("stored " + std::string(record_) + ": field '" + std::string(key) +
                     "' is not " + std::string(expected));
  }

 private:
  const json::value& field(std::string_view key) const {
    const json::value* v = object_.if_contains(key);
    if (v == nullptr) {
      throw StoreError("stored " + std::string(record_) + ": field '" + std::string(key) +
                       "' is missing");
    }
    return *v;
  }

  const json::object& object_;
  std::string_view record_;
};

json::object parse_object(std::string_view text, std::string_view record) {
  // Strings are stored byte for byte; what a peer sent need not be UTF-8.
  json::parse_options options;
  options.allow_invalid_utf8 = true;
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec, {}, options);
  if (ec) throw StoreError("stored " + std::string(record) + " is not JSON: " + ec.message());
  if (!v.is_object()) throw StoreError("stored " + std::string(record) + " is not a JSON object");
  return std::move(v.get_object());
}

std::vector<std::string> strings_of(const FieldReader& reader, std::string_view key) {
  std::vector<std::string> out;
  for (const json::value& item : reader.array(key)) {
    if (!item.is_string()) reader.fail(key, "an array of strings");
    out.emplace_back(item.get_string());
  }
  return out;
}

json::object encode_envelope(const Envelope& e) {
  json::array rcpt_to;
  for (const auto& rcpt : e.rcpt_to) rcpt_to.emplace_back(rcpt);
  return json::object{
      {"mail_from", e.mail_from},
      {"rcpt_to", std::move(rcpt_to)},
      {"helo", e.helo},
      {"peer_ip", e.peer_ip},
      {"peer_port", e.peer_port},
      {"listener", e.listener},
      {"protocol", e.protocol},
      {"tls_version", e.tls_version},
      {"tls_cipher", e.tls_cipher},
      {"authenticated_as", e.authenticated_as},
      {"body_type", e.body_type},
      {"smtputf8", e.smtputf8},
      {"sender_verified", e.sender_verified},
  };
}

Envelope decode_envelope(const json::object& object) {
  const FieldReader r(object, "envelope");
  Envelope e;
  e.mail_from = r.string("mail_from");
  e.rcpt_to = strings_of(r, "rcpt_to");
  e.helo = r.string("helo");
  e.peer_ip = r.string("peer_ip");
  e.peer_port = r.integer<uint16_t>("peer_port");
  e.listener = r.string("listener");
  e.protocol = r.string("protocol");
  e.tls_version = r.string("tls_version");
  e.tls_cipher = r.string("tls_cipher");
  e.authenticated_as = r.string("authenticated_as");
  e.body_type = r.string("body_type");
  e.smtputf8 = r.boolean("smtputf8");
  // Written since sender verification began; older records had no verified senders.
  e.sender_verified = r.has("sender_verified") && r.boolean("sender_verified");
  return e;
}

json::object encode_qos(const Qos& q) {
  return json::object{
      {"priority", q.priority},
      {"deliver_by", to_unix_ms(q.deliver_by)},
      {"deliver_by_mode", to_string(q.deliver_by_mode)},
      {"deliver_by_trace", q.deliver_by_trace},
      {"ret", to_string(q.ret)},
      {"envid", q.envid},
  };
}

Qos decode_qos(const json::object& object) {
  const FieldReader r(object, "qos");
  Qos q;
  q.priority = r.integer<int>("priority");
  if (q.priority < -9 || q.priority > 9) r.fail("priority", "a priority from -9 to 9");
  q.deliver_by = r.time("deliver_by");
  const std::string mode = r.string("deliver_by_mode");
  if (mode == "R") {
    q.deliver_by_mode = DeliverByMode::return_if_late;
  } else if (mode == "N") {
    q.deliver_by_mode = DeliverByMode::notify_if_late;
  } else if (!mode.empty()) {
    r.fail("deliver_by_mode", "\"R\", \"N\" or \"\"");
  }
  q.deliver_by_trace = r.boolean("deliver_by_trace");
  const std::string ret = r.string("ret");
  if (ret == "FULL") {
    q.ret = DsnReturn::full;
  } else if (ret == "HDRS") {
    q.ret = DsnReturn::headers;
  } else if (!ret.empty()) {
    r.fail("ret", "\"FULL\", \"HDRS\" or \"\"");
  }
  q.envid = r.string("envid");
  return q;
}

std::optional<NotifyRequest> parse_notify(std::string_view text) {
  NotifyRequest notify;
  if (text.empty()) return notify;
  notify.given = true;
  if (text == "NEVER") return notify;
  while (!text.empty()) {
    const size_t comma = std::min(text.find(','), text.size());
    const std::string_view item = text.substr(0, comma);
    if (item == "SUCCESS") {
      notify.success = true;
    } else if (item == "FAILURE") {
      notify.failure = true;
    } else if (item == "DELAY") {
      notify.delay = true;
    } else {
      return std::nullopt;
    }
    text.remove_prefix(std::min(comma + 1, text.size()));
  }
  return notify;
}

json::object encode_mqtt_message(const MqttMessageFields& f) {
  json::object object{
      {"topic", f.topic},         {"qos", f.qos},
      {"retain", f.retain},       {"properties", encode_hex(f.properties)},
      {"publisher", f.publisher},
  };
  if (f.expires_at) object["expires_at"] = to_unix_ms(*f.expires_at);
  return object;
}

MqttMessageFields decode_mqtt_message(const json::object& object) {
  const FieldReader r(object, "message record mqtt");
  MqttMessageFields f;
  f.topic = r.string("topic");
  f.qos = r.mqtt_qos("qos");
  f.retain = r.boolean("retain");
  f.properties = r.hex_bytes("properties");
  f.expires_at = r.optional_time("expires_at");
  f.publisher = r.string("publisher");
  return f;
}

json::object encode_mqtt_copy(const MqttCopyFields& f) {
  json::array identifiers;
  for (const uint32_t id : f.identifiers) identifiers.emplace_back(id);
  return json::object{
      {"qos", f.qos},
      {"retain", f.retain},
      {"identifiers", std::move(identifiers)},
      {"packet_id", f.packet_id},
  };
}

MqttCopyFields decode_mqtt_copy(const json::object& object) {
  const FieldReader r(object, "delivery mqtt");
  MqttCopyFields f;
  f.qos = r.mqtt_qos("qos");
  f.retain = r.boolean("retain");
  for (const json::value& item : r.array("identifiers")) {
    boost::system::error_code ec;
    const auto id = item.to_number<uint32_t>(ec);
    if (ec) r.fail("identifiers", "an array of subscription identifiers");
    f.identifiers.push_back(id);
  }
  f.packet_id = r.integer<uint16_t>("packet_id");
  return f;
}

json::object encode_subscription(const StoredSubscription& s) {
  json::object object{{"filter", s.filter}, {"options", s.options}};
  if (s.identifier) object["identifier"] = *s.identifier;
  return object;
}

StoredSubscription decode_subscription(const json::value& value) {
  if (!value.is_object()) {
    throw StoreError("stored mqtt session: field 'subscriptions' is not an array of objects");
  }
  const FieldReader r(value.get_object(), "mqtt session subscription");
  StoredSubscription s;
  s.filter = r.string("filter");
  s.options = r.integer<uint8_t>("options");
  if (r.has("identifier")) s.identifier = r.integer<uint32_t>("identifier");
  return s;
}

// The 4 big-endian bytes before a retained message's head.
constexpr size_t kHeadLengthBytes = 4;

}  // namespace

std::string_view to_string(DsnReturn ret) {
  switch (ret) {
    case DsnReturn::full:
      return "FULL";
    case DsnReturn::headers:
      return "HDRS";
    case DsnReturn::unspecified:
      break;
  }
  return "";
}

std::string_view to_string(DeliverByMode mode) {
  switch (mode) {
    case DeliverByMode::return_if_late:
      return "R";
    case DeliverByMode::notify_if_late:
      return "N";
    case DeliverByMode::none:
      break;
  }
  return "";
}

std::string to_string(const NotifyRequest& notify) {
  if (!notify.given) return "";
  std::string text;
  const auto add = [&](bool wanted, std::string_view name) {
    if (!wanted) return;
    if (!text.empty()) text += ',';
    text += name;
  };
  add(notify.success, "SUCCESS");
  add(notify.failure, "FAILURE");
  add(notify.delay, "DELAY");
  return text.empty() ? "NEVER" : text;
}

std::string encode_message_record(const MessageRecord& m) {
  json::object object{
      {"id", m.id},
      {"received_at", to_unix_ms(m.received_at)},
      {"size", m.size},
      {"body_pieces", m.body_pieces},
      {"envelope", encode_envelope(m.envelope)},
      {"qos", encode_qos(m.qos)},
  };
  if (m.mqtt) object["mqtt"] = encode_mqtt_message(*m.mqtt);
  return json::serialize(object);
}

std::string encode_delivery(const Delivery& d) {
  json::object object{
      {"message_id", d.message_id},
      {"index", d.index},
      {"recipient", d.recipient},
      {"mailbox", d.mailbox},
      {"transport", d.transport},
      {"state", to_string(d.state)},
      {"attempts", d.attempts},
      {"next_attempt", to_unix_ms(d.next_attempt)},
      {"last_reply", d.last_reply},
      {"notify", to_string(d.notify)},
      {"original_recipient", d.original_recipient},
      {"held", d.held},
      {"delay_notified", d.delay_notified},
      {"envelope_sender", d.envelope_sender},
      {"priority", d.priority},
  };
  if (d.mqtt) object["mqtt"] = encode_mqtt_copy(*d.mqtt);
  return json::serialize(object);
}

std::string encode_ledger_event(const LedgerEvent& e) {
  // An array of [key, value] pairs rather than an object: the order is part of the record
  // and a key may repeat.
  json::array fields;
  for (const auto& [key, value] : e.fields) fields.emplace_back(json::array{key, value});
  return json::serialize(json::object{
      {"at", to_unix_ms(e.at)},
      {"type", e.type},
      {"recipient", e.recipient},
      {"fields", std::move(fields)},
  });
}

MessageRecord decode_message_record(std::string_view text) {
  const json::object object = parse_object(text, "message record");
  const FieldReader r(object, "message record");
  MessageRecord m;
  m.id = r.string("id");
  m.received_at = r.time("received_at");
  m.size = r.integer<uint64_t>("size");
  if (r.has("body_pieces")) m.body_pieces = r.integer<uint32_t>("body_pieces");
  m.envelope = decode_envelope(r.object("envelope"));
  if (r.has("qos")) m.qos = decode_qos(r.object("qos"));
  if (r.has("mqtt")) m.mqtt = decode_mqtt_message(r.object("mqtt"));
  return m;
}

Delivery decode_delivery(std::string_view text) {
  const json::object object = parse_object(text, "delivery");
  const FieldReader r(object, "delivery");
  Delivery d;
  d.message_id = r.string("message_id");
  d.index = r.integer<uint32_t>("index");
  d.recipient = r.string("recipient");
  d.mailbox = r.string("mailbox");
  d.transport = r.string("transport");
  const auto state = parse_delivery_state(r.string("state"));
  if (!state) r.fail("state", "a delivery state (queued, deferred, delivered, …)");
  d.state = *state;
  d.attempts = r.integer<uint32_t>("attempts");
  d.next_attempt = r.time("next_attempt");
  d.last_reply = r.string("last_reply");
  if (r.has("notify")) {
    const auto notify = parse_notify(r.string("notify"));
    if (!notify) r.fail("notify", "NEVER or a list of SUCCESS, FAILURE, DELAY");
    d.notify = *notify;
  }
  if (r.has("original_recipient")) d.original_recipient = r.string("original_recipient");
  if (r.has("held")) d.held = r.boolean("held");
  if (r.has("delay_notified")) d.delay_notified = r.boolean("delay_notified");
  if (r.has("envelope_sender")) d.envelope_sender = r.string("envelope_sender");
  if (r.has("priority")) {
    d.priority = r.integer<int>("priority");
    if (d.priority < -9 || d.priority > 9) r.fail("priority", "a priority from -9 to 9");
  }
  if (r.has("mqtt")) d.mqtt = decode_mqtt_copy(r.object("mqtt"));
  return d;
}

LedgerEvent decode_ledger_event(std::string_view text) {
  const json::object object = parse_object(text, "ledger event");
  const FieldReader r(object, "ledger event");
  LedgerEvent e;
  e.at = r.time("at");
  e.type = r.string("type");
  e.recipient = r.string("recipient");
  for (const json::value& item : r.array("fields")) {
    const json::array* pair = item.if_array();
    if (pair == nullptr || pair->size() != 2 || !(*pair)[0].is_string() ||
        !(*pair)[1].is_string()) {
      r.fail("fields", "an array of [key, value] string pairs");
    }
    e.fields.emplace_back(std::string((*pair)[0].get_string()),
                          std::string((*pair)[1].get_string()));
  }
  return e;
}

std::string encode_mqtt_session(const MqttSessionRecord& s) {
  json::array subscriptions;
  for (const StoredSubscription& sub : s.subscriptions) {
    subscriptions.emplace_back(encode_subscription(sub));
  }
  json::object object{
      {"client_id", s.client_id},
      {"version", s.version},
      {"expiry_interval", s.expiry_interval},
      {"subscriptions", std::move(subscriptions)},
  };
  if (s.disconnected_at) object["disconnected_at"] = to_unix_ms(*s.disconnected_at);
  return json::serialize(object);
}

MqttSessionRecord decode_mqtt_session(std::string_view text) {
  const json::object object = parse_object(text, "mqtt session");
  const FieldReader r(object, "mqtt session");
  MqttSessionRecord s;
  s.client_id = r.string("client_id");
  s.version = r.integer<uint8_t>("version");
  s.expiry_interval = r.integer<uint32_t>("expiry_interval");
  s.disconnected_at = r.optional_time("disconnected_at");
  for (const json::value& item : r.array("subscriptions")) {
    s.subscriptions.push_back(decode_subscription(item));
  }
  return s;
}

std::string encode_mqtt_inbound_mark(const MqttInboundMark& mark) {
  return json::serialize(json::object{
      {"client_id", mark.client_id},
      {"packet_id", mark.packet_id},
      {"message_id", mark.message_id},
  });
}

MqttInboundMark decode_mqtt_inbound_mark(std::string_view text) {
  const json::object object = parse_object(text, "mqtt inbound mark");
  const FieldReader r(object, "mqtt inbound mark");
  MqttInboundMark mark;
  mark.client_id = r.string("client_id");
  mark.packet_id = r.integer<uint16_t>("packet_id");
  mark.message_id = r.string("message_id");
  return mark;
}

std::string encode_retained_message(const RetainedMessage& m) {
  json::object head{
      {"topic", m.topic},
      {"qos", m.qos},
      {"properties", encode_hex(m.properties)},
      {"priority", m.priority},
      {"received", to_unix_ms(m.received)},
      {"message_id", m.message_id},
  };
  if (m.expires_at) head["expires_at"] = to_unix_ms(*m.expires_at);
  const std::string head_text = json::serialize(head);
  std::string stored(kHeadLengthBytes, '\0');
  const auto length = static_cast<uint32_t>(head_text.size());
  for (size_t i = 0; i < kHeadLengthBytes; ++i) {
    stored[i] = static_cast<char>(length >> (8 * (kHeadLengthBytes - 1 - i)));
  }
  stored.reserve(stored.size() + head_text.size() + m.payload.size());
  stored += head_text;
  stored += m.payload;
  return stored;
}

RetainedMessage decode_retained_message(std::string_view stored) {
  if (stored.size() < kHeadLengthBytes) {
    throw StoreError("stored retained message: shorter than the length of its head");
  }
  uint64_t length = 0;
  for (size_t i = 0; i < kHeadLengthBytes; ++i) {
    length = (length << 8) | static_cast<unsigned char>(stored[i]);
  }
  if (length > stored.size() - kHeadLengthBytes) {
    throw StoreError("stored retained message: its head's length runs past the value");
  }
  const json::object head =
      parse_object(stored.substr(kHeadLengthBytes, length), "retained message head");
  const FieldReader r(head, "retained message");
  RetainedMessage m;
  m.topic = r.string("topic");
  m.qos = r.mqtt_qos("qos");
  m.properties = r.hex_bytes("properties");
  m.priority = r.integer<int>("priority");
  if (m.priority < -9 || m.priority > 9) r.fail("priority", "a priority from -9 to 9");
  m.received = r.time("received");
  m.expires_at = r.optional_time("expires_at");
  m.message_id = r.string("message_id");
  m.payload = std::string(stored.substr(kHeadLengthBytes + length));
  if (m.payload.empty()) r.fail("payload", "a payload (an empty one erases the topic's)");
  return m;
}

}  // namespace herald
