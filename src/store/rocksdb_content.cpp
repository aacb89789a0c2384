// Message content in the RocksDB store: the header section under the message id, the body in
// pieces beside it, written while the message arrives (store/store.h, "a body that is still
// arriving") and committed with its record.
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <memory>

#include "store/record_codec.h"
#include "store/rocksdb_store.h"
#include "store/stored_content.h"

namespace herald::store_layout {
namespace {

// The keys of every piece of `id`'s body: ID/ up to, not including, ID0 ('0' follows '/').
std::pair<std::string, std::string> piece_range(std::string_view id) {
  return {std::string(id) + "/", std::string(id) + "0"};
}

// As add_content counts them: the pieces written ahead, then the rest cut into pieces, at
// least one.
uint32_t body_pieces_of(const ContentToCommit& content) {
  const size_t rest = content.rest.size();
  const auto cut =
      static_cast<uint32_t>((rest + MessageBody::kMaxPieceSize - 1) / MessageBody::kMaxPieceSize);
  return std::max<uint32_t>(content.pieces_written + cut, 1);
}

}  // namespace

MessageRecord RocksDbStore::add_content(rocksdb::WriteBatch& batch, const MessageRecord& message,
                                        const ContentToCommit& content) {
  MessageRecord stored = message;
  uint32_t pieces = content.pieces_written;
  const std::string_view rest = content.rest;
  // Every body has at least one piece, an empty body included.
  if (!rest.empty() || pieces == 0) {
    for (size_t at = 0;;) {
      const std::string_view piece = rest.substr(at, MessageBody::kMaxPieceSize);
      put(batch, content_, body_piece_key(message.id, pieces++), piece);
      at += piece.size();
      if (at >= rest.size()) break;
    }
  }
  put(batch, content_, message.id, content.header);
  if (content.pieces_written > 0) erase(batch, default_, arriving_key(message.id));
  stored.size = content.size();
  stored.body_pieces = pieces;
  return stored;
}

std::optional<uint32_t> RocksDbStore::pieces_committed_in(const StoreWrite& parts,
                                                          std::string_view id) {
  for (const auto& m : parts.messages) {
    if (m.record.id == id) return body_pieces_of(m.content);
  }
  return std::nullopt;
}

void RocksDbStore::erase_content(rocksdb::WriteBatch& batch, std::string_view id,
                                 std::optional<uint32_t> pieces) {
  erase(batch, content_, id);
  // Point deletes by the record's count: range tombstones, one per finished message, would
  // pile up in the memtable and slow every read behind them.
  if (!pieces) {
    if (const auto value = get(messages_, id)) {
      try {
        pieces = decode_message_record(*value).body_pieces;
      } catch (const StoreError&) {
        // Undecodable: its pieces are not counted anywhere else, so they go by range.
      }
    }
  }
  if (!pieces) {
    erase_pieces(batch, id);
    return;
  }
  for (uint32_t i = 0; i < *pieces; ++i) erase(batch, content_, body_piece_key(id, i));
}

void RocksDbStore::erase_pieces(rocksdb::WriteBatch& batch, std::string_view id) {
  const auto [from, to] = piece_range(id);
  check(batch.DeleteRange(content_, slice(from), slice(to)));
}

std::optional<MessageContent> RocksDbStore::content(std::string_view id) {
  if (content_ == nullptr) {
    throw StoreError("message content is not readable from a read-only store");
  }
  const std::optional<MessageRecord> record = message(id);
  if (!record) return std::nullopt;
  std::optional<std::string> header = get(content_, id);
  if (!header) return std::nullopt;  // finished: the content was dropped
  if (record->body_pieces == 0) return MessageContent::from_text(*header);
  const uint64_t body_size = record->size > header->size() ? record->size - header->size() : 0;
  auto body = std::make_shared<StoredBody>(*this, std::string(id), record->body_pieces, body_size);
  return MessageContent{std::move(*header), std::move(body)};
}

void RocksDbStore::write_body_piece(std::string_view id, uint32_t index, std::string_view piece) {
  require_writable();
  rocksdb::WriteBatch batch;
  // The mark goes first, in the WAL before every piece: a crash that keeps a piece keeps it.
  if (index == 0) put(batch, default_, arriving_key(id), "");
  put(batch, content_, body_piece_key(id, index), piece);
  write_unsynced(batch);
}

std::optional<std::string> RocksDbStore::body_piece(std::string_view id, uint32_t index) {
  if (content_ == nullptr) {
    throw StoreError("message content is not readable from a read-only store");
  }
  return get(content_, body_piece_key(id, index));
}

void RocksDbStore::discard_body(std::string_view id, uint32_t pieces) {
  require_writable();
  rocksdb::WriteBatch batch;
  for (uint32_t i = 0; i < pieces; ++i) erase(batch, content_, body_piece_key(id, i));
  erase(batch, default_, arriving_key(id));
  write_unsynced(batch);
}

size_t RocksDbStore::drop_arriving_bodies() {
  rocksdb::WriteBatch batch;
  size_t dropped = 0;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, default_));
  for (it->Seek(slice(kArrivingPrefix));
       it->Valid() && it->key().starts_with(slice(kArrivingPrefix)); it->Next()) {
    // A committed message took its mark away in the commit itself: a mark left is a body
    // no record points to.
    const std::string_view id = it->key().ToStringView().substr(kArrivingPrefix.size());
    erase_pieces(batch, id);
    erase(batch, default_, it->key().ToStringView());
    ++dropped;
  }
  check(it->status());
  if (dropped > 0) write(batch);
  return dropped;
}

}  // namespace herald::store_layout
