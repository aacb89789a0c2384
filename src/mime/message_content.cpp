#include "mime/message_content.h"

#include <algorithm>

namespace herald {

size_t InlineBody::piece_count() const {
  return std::max<size_t>(1, (text_.size() + kMaxPieceSize - 1) / kMaxPieceSize);
}

std::string InlineBody::piece(size_t index) const {
  if (index >= piece_count()) throw ContentReadError("body piece out of range");
  const size_t start = index * kMaxPieceSize;
  return text_.substr(std::min(start, text_.size()), kMaxPieceSize);
}

void MessageContent::read_body(const std::function<bool(std::string_view)>& visit) const {
  const size_t count = body->piece_count();
  for (size_t i = 0; i < count; ++i) {
    if (!visit(body->piece(i))) return;
  }
}

size_t header_section_end(std::string_view text) {
  // An empty line first: the header section is that line alone (no fields).
  if (text.starts_with("\r\n")) return 2;
  const size_t blank = text.find("\r\n\r\n");
  return blank == std::string_view::npos ? text.size() : blank + 4;
}

MessageContent MessageContent::from_text(std::string_view text) {
  const size_t end = header_section_end(text);
  return MessageContent{std::string(text.substr(0, end)),
                        std::make_shared<InlineBody>(std::string(text.substr(end)))};
}

MessageContent MessageContent::with_fields_on_top(std::string_view fields) const {
  std::string top;
  top.reserve(fields.size() + header.size());
  top.append(fields).append(header);
  return MessageContent{std::move(top), body};
}

std::string MessageContent::to_text() const {
  std::string text;
  text.reserve(size());
  text += header;
  read_body([&](std::string_view piece) {
    text += piece;
    return true;
  });
  return text;
}

}  // namespace herald
