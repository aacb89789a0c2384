#include "mqtt/packet_decoder.h"

#include <fmt/format.h>

#include <utility>

#include "mqtt/packet_body_decoder.h"

namespace herald::mqtt {
namespace {

struct FrameStart {
  FixedHeader header;
  size_t header_size = 0;  // the first byte and the remaining length
  uint32_t remaining_length = 0;
};

// Reads the fixed header at the front of `bytes`: monostate when it has not all come yet,
// an error when the remaining length is not a valid variable byte integer (MQTT 5 2.1.4).
std::variant<std::monostate, FrameStart, DecodeError> read_fixed_header(std::string_view bytes) {
  if (bytes.size() < 2) return std::monostate{};
  FrameStart frame;
  const auto first = static_cast<uint8_t>(bytes[0]);
  frame.header = FixedHeader{static_cast<uint8_t>(first >> 4), static_cast<uint8_t>(first & 0xF)};
  for (size_t i = 0; i < 4; ++i) {
    if (1 + i >= bytes.size()) return std::monostate{};
    const auto byte = static_cast<uint8_t>(bytes[1 + i]);
    frame.remaining_length |= static_cast<uint32_t>(byte & 0x7F) << (7 * i);
    if ((byte & 0x80) == 0) {
      // MQTT 5 1.5.5 [MQTT-1.5.5-1]: the fewest bytes; a trailing 0x00 adds nothing.
      if (i > 0 && byte == 0) {
        return DecodeError{ReasonCode::malformed_packet,
                           "remaining length not in its shortest form"};
      }
      frame.header_size = 2 + i;
      return frame;
    }
  }
  return DecodeError{ReasonCode::malformed_packet, "remaining length longer than four bytes"};
}

}  // namespace

void PacketDecoder::feed(std::string_view bytes) {
  if (error_) return;
  // Drop what was taken before growing, so the buffer holds only what is pending and each
  // byte is moved at most once more.
  if (start_ > 0 && start_ >= buffer_.size() / 2) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  buffer_.append(bytes);
}

DecodeResult PacketDecoder::next() {
  if (error_) return *error_;
  const std::string_view pending = std::string_view(buffer_).substr(start_);
  auto start = read_fixed_header(pending);
  if (std::holds_alternative<std::monostate>(start)) return NeedMore{};
  if (auto* error = std::get_if<DecodeError>(&start)) return fail(std::move(*error));
  const FrameStart& frame = std::get<FrameStart>(start);
  const uint64_t packet_size = uint64_t{frame.header_size} + frame.remaining_length;
  if (packet_size > limits_.max_packet_size) {
    return fail(
        {ReasonCode::packet_too_large, fmt::format("packet of {} bytes, over the limit of {}",
                                                   packet_size, limits_.max_packet_size)});
  }
  if (pending.size() < packet_size) return NeedMore{};
  const std::string_view body = pending.substr(frame.header_size, frame.remaining_length);
  auto decoded = decode_body(frame.header, body, sender_, version_, limits_);
  if (auto* error = std::get_if<DecodeError>(&decoded)) return fail(std::move(*error));
  start_ += packet_size;
  if (start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  }
  return std::get<Packet>(std::move(decoded));
}

DecodeResult PacketDecoder::fail(DecodeError error) {
  error_ = std::move(error);
  buffer_.clear();
  buffer_.shrink_to_fit();
  start_ = 0;
  return *error_;
}

}  // namespace herald::mqtt
