#include "store/stored_content.h"

namespace herald {

ContentToCommit::ContentToCommit(std::string_view whole) {
  const size_t end = header_section_end(whole);
  header = std::string(whole.substr(0, end));
  rest = std::string(whole.substr(end));
}

std::string StoredBody::piece(size_t index) const {
  if (index == stored_ && tail_) return *tail_;
  if (index >= stored_) throw ContentReadError("body piece out of range");
  std::optional<std::string> piece;
  try {
    piece = store_.body_piece(id_, static_cast<uint32_t>(index));
  } catch (const StoreError& e) {
    throw ContentReadError(std::string("reading the message body: ") + e.what());
  }
  if (!piece) {
    throw ContentReadError("piece " + std::to_string(index) + " of the body of " + id_ +
                           " is missing from the store");
  }
  return std::move(*piece);
}

}  // namespace herald
