#include "mqtt/session_store.h"

namespace herald::mqtt {

uint8_t stored_options(const SubscriptionOptions& options) {
  auto byte = static_cast<uint8_t>(options.max_qos);
  if (options.no_local) byte |= 0x04;
  if (options.retain_as_published) byte |= 0x08;
  byte |= static_cast<uint8_t>(static_cast<uint8_t>(options.retain_handling) << 4);
  return byte;
}

std::optional<SubscriptionOptions> options_of_stored(uint8_t byte) {
  if ((byte & 0xC0) != 0 || (byte & 3) == 3 || ((byte >> 4) & 3) == 3) return std::nullopt;
  return SubscriptionOptions{
      .max_qos = static_cast<QoS>(byte & 3),
      .no_local = (byte & 0x04) != 0,
      .retain_as_published = (byte & 0x08) != 0,
      .retain_handling = static_cast<RetainHandling>((byte >> 4) & 3),
  };
}

}  // namespace herald::mqtt
