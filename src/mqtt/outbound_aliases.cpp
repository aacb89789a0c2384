#include "mqtt/outbound_aliases.h"

#include <algorithm>

namespace herald::mqtt {

OutboundAliases::OutboundAliases(uint16_t client_maximum)
    : maximum_(std::min(client_maximum, kMaxOutboundAliases)) {}

void OutboundAliases::apply(Publish& publish) {
  if (maximum_ == 0 || publish.topic.empty()) return;
  if (const auto known = by_topic_.find(publish.topic); known != by_topic_.end()) {
    by_use_.splice(by_use_.begin(), by_use_, known->second);
    publish.properties.topic_alias = known->second->first;
    publish.topic.clear();
    return;
  }
  uint16_t alias = static_cast<uint16_t>(by_use_.size() + 1);
  if (by_use_.size() == maximum_) {
    // The client replaces an alias's topic when a PUBLISH carries both (3.3.2.3.4).
    alias = by_use_.back().first;
    by_topic_.erase(by_use_.back().second);
    by_use_.pop_back();
  }
  by_use_.emplace_front(alias, publish.topic);
  by_topic_.emplace(by_use_.front().second, by_use_.begin());
  publish.properties.topic_alias = alias;
}

}  // namespace herald::mqtt
