#include <chrono>

#include "store/store.h"

namespace herald {

DuePosition DuePosition::of(const Delivery& delivery) {
  DuePosition position;
  position.transport = delivery.transport;
  // The index keeps whole milliseconds, as records do, so the entry of a delivery read back
  // from the store is the entry of the one that was written.
  position.due = TimePoint(std::chrono::floor<std::chrono::milliseconds>(delivery.next_attempt));
  position.message_id = delivery.message_id;
  position.index = delivery.index;
  return position;
}

DuePosition DuePosition::start_of(std::string transport) {
  DuePosition position;
  position.transport = std::move(transport);
  // The earliest whole millisecond a TimePoint holds (flooring TimePoint::min() would not fit).
  position.due =
      TimePoint(std::chrono::ceil<std::chrono::milliseconds>(TimePoint::min().time_since_epoch()));
  return position;
}

}  // namespace herald
