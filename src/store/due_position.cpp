#include <algorithm>
#include <chrono>

#include "store/store.h"

namespace herald {

uint8_t DuePosition::band_of(int priority) {
  return static_cast<uint8_t>(9 - std::clamp(priority, -9, 9));
}

DuePosition DuePosition::of(const Delivery& delivery) {
  DuePosition position;
  position.transport = delivery.transport;
  position.band = band_of(delivery.priority);
  // The index keeps whole milliseconds, as records do, so the entry of a delivery read back
  // from the store is the entry of the one that was written.
  position.due = TimePoint(std::chrono::floor<std::chrono::milliseconds>(delivery.next_attempt));
  position.message_id = delivery.message_id;
  position.index = delivery.index;
  return position;
}

DuePosition DuePosition::start_of(std::string transport, uint8_t band) {
  DuePosition position;
  position.transport = std::move(transport);
  position.band = band;
  // The earliest whole millisecond a TimePoint holds (flooring TimePoint::min() would not fit).
  position.due =
      TimePoint(std::chrono::ceil<std::chrono::milliseconds>(TimePoint::min().time_since_epoch()));
  return position;
}

}  // namespace herald
