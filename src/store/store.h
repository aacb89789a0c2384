// The Store keeps messages, deliveries and ledgers durably. It is the seam for growing past
// one machine (DESIGN.md section 8): nothing else in herald touches storage directly.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "mime/message_content.h"
#include "store/mqtt_records.h"
#include "store/records.h"

namespace herald {

// A storage failure (I/O error, corruption, full disk). The operation it came from had no
// effect. Callers answer the client with a temporary failure (451/452) and carry on.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Where a delivery stands in the due index, ordered as the index is: by transport, then
// priority band (highest priority first), then the time it is due (milliseconds, as records
// store times), then message id, then index. Each band is read apart (Store::due_deliveries),
// so urgent mail due now is found before a backlog of bulk mail due earlier.
struct DuePosition {
  // Bands 0 .. kBands-1: band 0 holds priority 9, band 18 priority -9.
  static constexpr uint8_t kBands = 19;

  std::string transport;
  uint8_t band = 0;
  TimePoint due;
  std::string message_id;
  uint32_t index = 0;

  auto operator<=>(const DuePosition&) const = default;
  // The band of `priority` (-9..9; outside that range, the nearest end): 9 - priority.
  static uint8_t band_of(int priority);
  // The entry of `delivery`: its transport, the band of its priority, next_attempt truncated
  // to milliseconds, its key.
  static DuePosition of(const Delivery& delivery);
  // Before every entry of `band` of `transport`.
  static DuePosition start_of(std::string transport, uint8_t band);
};

// A delivery read from the due index, with the record of its message.
struct DueDelivery {
  std::shared_ptr<const MessageRecord> message;
  Delivery delivery;
};

// A record the store could not decode, as kept in the quarantine.
struct DamagedRecord {
  std::string family;  // where it was found: "deliveries", "messages", "mqtt_sessions", …
  std::string key;     // its key there ("ID/INDEX", "ID")
  std::string reason;  // what the decoder said, or "missing"
  std::string bytes;   // the stored value, byte for byte (empty when missing)
  TimePoint found_at;
};

// A message's content as a commit takes it: the header section, then the body as the
// pieces a session wrote ahead with Store::write_body_piece (0 .. pieces_written-1) followed
// by `rest`, which the commit writes, in pieces of at most MessageBody::kMaxPieceSize. Made
// from one string (a DSN, a test), it is split at its header's end and nothing was written
// ahead.
struct ContentToCommit {
  ContentToCommit() = default;
  ContentToCommit(std::string_view whole);   // NOLINT(google-explicit-constructor)
  ContentToCommit(const std::string& whole)  // NOLINT(google-explicit-constructor)
      : ContentToCommit(std::string_view(whole)) {}
  ContentToCommit(const char* whole)  // NOLINT(google-explicit-constructor)
      : ContentToCommit(std::string_view(whole)) {}
  ContentToCommit(std::string header, uint32_t pieces_written, uint64_t written_size,
                  std::string rest)
      : header(std::move(header)),
        pieces_written(pieces_written),
        written_size(written_size),
        rest(std::move(rest)) {}

  uint64_t size() const { return header.size() + written_size + rest.size(); }

  std::string header;
  uint32_t pieces_written = 0;
  uint64_t written_size = 0;  // octets in those pieces
  std::string rest;
};

// What Store::apply writes as one.
struct StoreWrite {
  struct NewMessage {  // as commit_message
    MessageRecord record;
    ContentToCommit content;
    std::vector<Delivery> deliveries;
    std::vector<LedgerEvent> events;
  };
  struct Update {  // as update_delivery
    Delivery delivery;
    std::vector<LedgerEvent> events;
  };
  struct Event {  // as append_event
    std::string message_id;
    LedgerEvent event;
  };
  std::vector<NewMessage> messages;
  std::vector<Update> updates;
  std::vector<Event> events;

  // The MQTT face's state (store/mqtt_records.h), applied after the parts above and in the
  // order below, so that within one write a later part wins over an earlier one.
  std::vector<MqttSessionRecord> sessions_put;  // replaces the record of that client id
  // Removes the record and the session's inbound marks (its deliveries are the caller's:
  // they are ended by updates, a slice at a time).
  std::vector<std::string> sessions_erased;
  std::vector<MqttInboundMark> inbound_put;  // replaces the mark of (client id, packet id)
  std::vector<std::pair<std::string, uint16_t>> inbound_erased;  // (client id, packet id)
  // Replaces the topic's retained message. An empty payload (which MQTT means as erasing the
  // topic's: use retained_erased) is std::invalid_argument, and nothing is written.
  std::vector<RetainedMessage> retained_put;
  std::vector<std::string> retained_erased;  // topics

  bool empty() const {
    return messages.empty() && updates.empty() && events.empty() && sessions_put.empty() &&
           sessions_erased.empty() && inbound_put.empty() && inbound_erased.empty() &&
           retained_put.empty() && retained_erased.empty();
  }
};

// Thread-safety: every method may be called from any thread concurrently. Methods block
// (they do disk I/O): call them from a worker pool, never from an io thread.
class Store {
 public:
  virtual ~Store() = default;

  // Writes the message record, its content, its deliveries (each with the record's
  // qos.priority, else std::invalid_argument) and the given ledger events as one atomic
  // write, and returns only after that write is on stable storage (fsync'd). This is the
  // step behind every "250 queued": if it is skipped or returns early, an acknowledged
  // message can be lost in a crash. Concurrent calls share fsyncs (group commit). Every
  // delivery starts in the pending set. The record is stored with size and body_pieces set
  // from `content`. The pieces written ahead become part of the message in this write
  // (they are synced with it: one WAL). Throws StoreError; then nothing was written.
  virtual void commit_message(const MessageRecord& message, const ContentToCommit& content,
                              const std::vector<Delivery>& deliveries,
                              const std::vector<LedgerEvent>& events) = 0;

  // Replaces the stored delivery (same message_id and index) and appends `events` to the
  // message's ledger, in order, atomically and durably. A delivery whose new state is
  // terminal leaves the pending set; once a message has no pending delivery left its content
  // is dropped (record, deliveries and ledger stay). Throws StoreError; then nothing was
  // written.
  virtual void update_delivery(const Delivery& delivery,
                               const std::vector<LedgerEvent>& events) = 0;
  void update_delivery(const Delivery& delivery, const LedgerEvent& event) {
    update_delivery(delivery, std::vector<LedgerEvent>{event});
  }

  // Appends one event to a message's ledger, durably. Throws StoreError.
  virtual void append_event(std::string_view message_id, const LedgerEvent& event) = 0;

  // Reads. Absent messages give nullopt / empty vectors. Throw StoreError on I/O failure.
  virtual std::optional<MessageRecord> message(std::string_view id) = 0;
  // The content of a message not yet finished. Its header is read now; its body is read a
  // piece at a time when its readers ask (MessageBody::piece blocks on the store), so the
  // store must outlive it. A message stored before bodies were pieces is read whole.
  virtual std::optional<MessageContent> content(std::string_view id) = 0;
  virtual std::vector<Delivery> deliveries(std::string_view id) = 0;
  virtual std::vector<LedgerEvent> ledger(std::string_view id) = 0;  // in the order appended

  // Several writes as one: atomic and durable together, behind one fsync (how the queue
  // commits a batch of outcomes, each with the DSNs it caused). Each part has the meaning of
  // the method named beside it; a delivery updated twice in one write takes the later one.
  // Throws StoreError; then nothing was written.
  virtual void apply(const StoreWrite& write) = 0;

  // --- a body that is still arriving ------------------------------------------------------
  // A session writes the body of the message it receives (under the id it will commit it
  // with) in pieces as they fill, so that no message is held whole. These writes are not
  // synced: the commit's synced write makes them durable with it. Until that commit no
  // reader sees the message; a transfer never committed is dropped by discard_body or, after
  // a crash, when the store is next opened read-write (the first piece marks it as arriving).

  // Writes piece `index` (0, 1, ... in order) of the arriving body of `id`. Throws StoreError.
  virtual void write_body_piece(std::string_view id, uint32_t index, std::string_view piece) = 0;
  // Piece `index` of the body of `id`, arriving or committed; nullopt when there is none.
  // Throws StoreError.
  virtual std::optional<std::string> body_piece(std::string_view id, uint32_t index) = 0;
  // Drops the `pieces` pieces written of the arriving body of `id` (a transfer refused or
  // cut off). Throws StoreError.
  virtual void discard_body(std::string_view id, uint32_t pieces) = 0;

  // --- the due index ---------------------------------------------------------------------
  // Every delivery that is neither terminal nor held has exactly one entry, at
  // DuePosition::of(delivery); every write above moves it in the same batch. The queue reads
  // it in slices, never whole.

  // Up to `limit` deliveries of `after.transport` in `after.band` whose entries come after
  // `after` (not itself) and are due at or before `until`, in index order, each with its
  // message record (shared between deliveries of one message within one call). Other bands
  // are not read: a caller wanting every band walks them, highest priority (band 0) first.
  // An entry whose delivery or message record is missing or undecodable is moved to the
  // quarantine (damaged_records) with a log line, leaves the due index and the pending set,
  // and is skipped: one damaged record never stops the queue. Throws StoreError on I/O
  // failure.
  virtual std::vector<DueDelivery> due_deliveries(const DuePosition& after, TimePoint until,
                                                  size_t limit) = 0;

  // Up to `limit` deliveries that are not terminal (held ones too), after `after` (not
  // itself; nullopt: from the start) in (message id, index) order, that is oldest message
  // first: what an operator's action on every message walks, a slice at a time. Damaged
  // entries are quarantined and skipped as in due_deliveries.
  virtual std::vector<Delivery> unfinished_deliveries(const std::optional<DeliveryKey>& after,
                                                      size_t limit) = 0;

  // --- damage and retention ---------------------------------------------------------------

  // Records found undecodable (oldest found first, at most `limit`), kept byte for byte in
  // the quarantine for an operator to inspect; nothing else reads them.
  virtual std::vector<DamagedRecord> damaged_records(size_t limit) = 0;

  // A message is finished when the write that made its last delivery terminal is done; it
  // is finished at the latest `at` among that write's ledger events for it (the write's wall
  // clock time when it has none). Removes up to `limit` messages finished before `before`,
  // oldest first: record, content, deliveries and ledger. Returns how many were removed.
  virtual size_t remove_finished(TimePoint before, size_t limit) = 0;

  // Calls `visit` for each message, newest first, until it returns false.
  virtual void for_each_message(const std::function<bool(const MessageRecord&)>& visit) = 0;

  // --- the MQTT face (written through apply) ----------------------------------------------

  // Calls `visit` for each persistent session, in client id order, until it returns false.
  // A record that does not decode is moved to the quarantine (family "mqtt_sessions") and
  // skipped. Throws StoreError.
  virtual void for_each_mqtt_session(
      const std::function<bool(const MqttSessionRecord&)>& visit) = 0;
  // The inbound QoS 2 marks of `client_id`, in packet id order. Throws StoreError. A mark
  // that does not decode is quarantined (family "mqtt_inbound") and skipped.
  virtual std::vector<MqttInboundMark> mqtt_inbound(std::string_view client_id) = 0;
  // Up to `limit` retained messages whose topics start with `prefix`, after topic `after`
  // (not itself; "" from the first), in topic byte order: what a SUBSCRIBE reads a slice at
  // a time, from the literal part of its filter. Throws StoreError. A message that does not
  // decode is quarantined (family "mqtt_retained") and skipped.
  virtual std::vector<RetainedMessage> retained(std::string_view prefix, std::string_view after,
                                                size_t limit) = 0;
};

enum class StoreMode {
  read_write,  // the daemon: exclusive; a second read_write open of the same store fails
  read_only,   // the CLI: a consistent view of what was committed when it opened, safe
               // while the daemon is running. Records, deliveries, ledgers and MQTT state only:
               // content() throws StoreError (RocksDB's secondary instances, which are what
               // makes this safe, cannot read the blob files the content lives in).
};

// Opens (creating when read_write and absent) the RocksDB store in `directory`.
// Throws StoreError with a message that says what to do (e.g. "is heraldd already running?").
std::unique_ptr<Store> open_rocksdb_store(const std::filesystem::path& directory, StoreMode mode);

}  // namespace herald
