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

#include "store/records.h"

namespace herald {

// A storage failure (I/O error, corruption, full disk). The operation it came from had no
// effect. Callers answer the client with a temporary failure (451/452) and carry on.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thread-safety: every method may be called from any thread concurrently. Methods block
// (they do disk I/O): call them from a worker pool, never from an io thread.
class Store {
 public:
  virtual ~Store() = default;

  // Writes the message record, its content, its deliveries and the given ledger events as
  // one atomic write, and returns only after that write is on stable storage (fsync'd).
  // This is the step behind every "250 queued": if it is skipped or returns early, an
  // acknowledged message can be lost in a crash. Concurrent calls share fsyncs (group
  // commit). Every delivery starts in the pending set. Throws StoreError; then nothing was
  // written.
  virtual void commit_message(const MessageRecord& message, std::string_view content,
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
  virtual std::optional<std::string> content(std::string_view id) = 0;
  virtual std::vector<Delivery> deliveries(std::string_view id) = 0;
  virtual std::vector<LedgerEvent> ledger(std::string_view id) = 0;  // in the order appended

  // Every delivery that is not terminal, oldest message first: what a restart resumes.
  virtual std::vector<Delivery> pending_deliveries() = 0;

  // Calls `visit` for each message, newest first, until it returns false.
  virtual void for_each_message(const std::function<bool(const MessageRecord&)>& visit) = 0;
};

enum class StoreMode {
  read_write,  // the daemon: exclusive; a second read_write open of the same store fails
  read_only,   // the CLI: a consistent view of what was committed when it opened, safe
               // while the daemon is running. Records, deliveries and ledgers only:
               // content() throws StoreError (RocksDB's secondary instances, which are what
               // makes this safe, cannot read the blob files the content lives in).
};

// Opens (creating when read_write and absent) the RocksDB store in `directory`.
// Throws StoreError with a message that says what to do (e.g. "is heraldd already running?").
std::unique_ptr<Store> open_rocksdb_store(const std::filesystem::path& directory, StoreMode mode);

}  // namespace herald
