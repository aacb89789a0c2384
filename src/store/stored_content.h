// Content as the store keeps it, whatever the backend: a body read back a piece at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "mime/message_content.h"
#include "store/store.h"

namespace herald {

// The body of message `id`: `stored` pieces in `store` (arriving or committed), then `tail`,
// a last piece still in memory when there is one (a body whose end has arrived but is not
// yet written: what the checks at end of data read). `store` must outlive the body.
// Threading and blocking as MessageBody: piece() reads the store.
class StoredBody final : public MessageBody {
 public:
  StoredBody(Store& store, std::string id, uint32_t stored, uint64_t size,
             std::optional<std::string> tail = std::nullopt)
      : store_(store), id_(std::move(id)), stored_(stored), size_(size), tail_(std::move(tail)) {}

  uint64_t size() const override { return size_; }
  size_t piece_count() const override { return stored_ + (tail_ ? 1 : 0); }
  // Throws ContentReadError when the store fails or the piece is not there.
  std::string piece(size_t index) const override;

 private:
  Store& store_;
  std::string id_;
  uint32_t stored_;
  uint64_t size_;
  std::optional<std::string> tail_;
};

}  // namespace herald
