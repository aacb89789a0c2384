#include "store/record_codec.h"

#include <algorithm>
#include <boost/json.hpp>
#include <optional>

#include "store/store.h"

namespace herald {
namespace json = boost::json;
namespace {

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
  return json::serialize(json::object{
      {"id", m.id},
      {"received_at", to_unix_ms(m.received_at)},
      {"size", m.size},
      {"body_pieces", m.body_pieces},
      {"envelope", encode_envelope(m.envelope)},
      {"qos", encode_qos(m.qos)},
  });
}

std::string encode_delivery(const Delivery& d) {
  return json::serialize(json::object{
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
  });
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

}  // namespace herald
