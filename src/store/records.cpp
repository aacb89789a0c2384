#include "store/records.h"

#include <array>

namespace herald {
namespace {

struct StateName {
  DeliveryState state;
  std::string_view name;
};

// The names are what the store records and what `herald queue list --state` accepts.
constexpr std::array<StateName, 7> kStateNames{{
    {DeliveryState::queued, "queued"},
    {DeliveryState::attempting, "attempting"},
    {DeliveryState::deferred, "deferred"},
    {DeliveryState::delivered, "delivered"},
    {DeliveryState::bounced, "bounced"},
    {DeliveryState::expired, "expired"},
    {DeliveryState::discarded, "discarded"},
}};

}  // namespace

bool is_terminal(DeliveryState state) {
  switch (state) {
    case DeliveryState::delivered:
    case DeliveryState::bounced:
    case DeliveryState::expired:
    case DeliveryState::discarded:
      return true;
    case DeliveryState::queued:
    case DeliveryState::attempting:
    case DeliveryState::deferred:
      return false;
  }
  return false;
}

std::string_view to_string(DeliveryState state) {
  for (const auto& entry : kStateNames) {
    if (entry.state == state) return entry.name;
  }
  return "unknown";
}

std::optional<DeliveryState> parse_delivery_state(std::string_view text) {
  for (const auto& entry : kStateNames) {
    if (entry.name == text) return entry.state;
  }
  return std::nullopt;
}

}  // namespace herald
