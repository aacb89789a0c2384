// The topic aliases herald sets towards one client (MQTT 5 3.3.2.3.4): the first PUBLISH on
// a topic carries the topic and an alias, later ones the alias alone (an empty topic). When
// every alias is taken, the one used longest ago goes to the new topic. Aliases belong to
// one network connection: a new connection starts with none.
//
// At most kMaxOutboundAliases aliases, whatever larger Topic Alias Maximum a client
// allows, so what a connection holds of topics stays small. Not thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "mqtt/packet.h"

namespace herald::mqtt {

inline constexpr uint16_t kMaxOutboundAliases = 64;

class OutboundAliases {
 public:
  // `client_maximum`: the Topic Alias Maximum of the client's CONNECT (0: none).
  explicit OutboundAliases(uint16_t client_maximum);

  // Gives `publish` (topic set, no alias yet) its alias: sets properties.topic_alias, and
  // empties the topic when the client has it under that alias already. Does nothing when
  // the client takes no aliases.
  void apply(Publish& publish);

 private:
  uint16_t maximum_;
  std::list<std::pair<uint16_t, std::string>> by_use_;  // alias and topic, last used first
  std::unordered_map<std::string_view, decltype(by_use_)::iterator> by_topic_;
};

}  // namespace herald::mqtt
