// PacketDecoder must take any byte stream, cut anywhere, without crashing, reading out of
// bounds or hitting undefined behaviour; and every packet it accepts must survive the
// encoder: encoded again and decoded, it is the same packet.
//
// The first input byte chooses who sends (bit 0), the version a server's packets are read
// in (bit 1: 5, else 3.1.1; a client's come from its CONNECT) and the size of the pieces
// the rest is fed in (bits 2-7, 0 meaning all at once).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "mqtt/packet_decoder.h"
#include "mqtt/packet_encoder.h"

namespace {

using namespace herald::mqtt;

// The version the session would now tell the decoder, once a CONNECT is through.
void learn_version(PacketDecoder& decoder, const Packet& packet) {
  if (const auto* connect = std::get_if<Connect>(&packet); connect && !decoder.version()) {
    decoder.set_version(connect->version);
  }
}

void check_round_trip(const Packet& packet, Sender sender, ProtocolVersion version) {
  PacketDecoder again(sender, DecoderLimits{.max_packet_size = UINT32_MAX});
  if (packet_type(packet) != PacketType::connect) again.set_version(version);
  again.feed(encode_packet(packet, version));
  const DecodeResult result = again.next();
  const auto* decoded = std::get_if<Packet>(&result);
  if (decoded == nullptr || !(*decoded == packet)) __builtin_trap();
  if (!std::holds_alternative<NeedMore>(again.next())) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Sender sender = (data[0] & 1) ? Sender::server : Sender::client;
  const size_t piece = data[0] >> 2;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  PacketDecoder decoder(sender, DecoderLimits{.max_packet_size = 64 * 1024});
  if (sender == Sender::server) {
    decoder.set_version((data[0] & 2) ? ProtocolVersion::v5 : ProtocolVersion::v3_1_1);
  }
  while (true) {
    const size_t take = piece == 0 ? input.size() : std::min(piece, input.size());
    decoder.feed(input.substr(0, take));
    input.remove_prefix(take);
    while (true) {
      DecodeResult result = decoder.next();
      if (std::holds_alternative<DecodeError>(result)) return 0;
      if (std::holds_alternative<NeedMore>(result)) break;
      const Packet& packet = std::get<Packet>(result);
      learn_version(decoder, packet);
      const ProtocolVersion version = packet_type(packet) == PacketType::connect
                                          ? std::get<Connect>(packet).version
                                          : *decoder.version();
      check_round_trip(packet, sender, version);
    }
    if (input.empty()) return 0;
  }
}
