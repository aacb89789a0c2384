// Every session's subscriptions as one tree of topic levels, and the matching of a PUBLISH
// topic against all of them at once (MQTT 5 4.7, 4.8; 3.3.4 for what one subscriber gets
// when several of its subscriptions match).
//
// Cost: a node per distinct level of the filters subscribed. Matching a topic follows, at
// each level, the node of that level's name, of '+' and of '#': every node is visited at
// most once, so a match costs at most the size of the tree, whatever the filters (no
// wildcard makes it exponential), plus the subscriptions it finds.
// Not thread-safe: the broker keeps it on one strand.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mqtt/packet.h"

namespace herald::mqtt {

// A session, as the broker numbers them.
using SubscriberId = uint64_t;

struct Subscription {
  SubscriberId subscriber = 0;
  SubscriptionOptions options;
  std::optional<uint32_t> identifier;  // MQTT 5 3.8.2.1.2

  bool operator==(const Subscription&) const = default;
};

// One copy of a message for one subscriber, from all its matching subscriptions that are
// not shared: the highest of their QoS [MQTT-3.3.4-2], every subscription identifier among
// them [MQTT-3.3.4-4], and the retain flag kept when any asked for retain as published.
struct Recipient {
  SubscriberId subscriber = 0;
  QoS max_qos = QoS::at_most_once;
  bool retain_as_published = false;
  std::vector<uint32_t> identifiers;  // ascending

  bool operator==(const Recipient&) const = default;
};

// A shared subscription the topic matches: the message goes to one of its members
// (MQTT 5 4.8.2), which one is the broker's choice.
struct SharedMatch {
  std::string group;
  std::string filter;                 // without "$share/{group}/"
  std::vector<Subscription> members;  // by subscriber, never empty

  bool operator==(const SharedMatch&) const = default;
};

struct Matches {
  std::vector<Recipient> recipients;  // by subscriber
  std::vector<SharedMatch> shared;    // by group, then filter

  bool operator==(const Matches&) const = default;
};

class TopicTree {
 public:
  TopicTree();
  ~TopicTree();
  TopicTree(const TopicTree&) = delete;
  TopicTree& operator=(const TopicTree&) = delete;

  // Adds `subscription` under `filter`, which check_topic_filter() passed; a filter
  // "$share/{group}/{f}" makes it a member of that group under f. An earlier subscription
  // of the same subscriber under the same filter is replaced (MQTT 5 3.8.4): returns
  // whether there was one (retain handling 1 sends retained messages only when not).
  bool subscribe(std::string_view filter, const Subscription& subscription);

  // Removes the subscriber's subscription under `filter`; false when it had none (UNSUBACK
  // 0x11, no subscription existed). Nodes left without subscriptions go with it.
  bool unsubscribe(std::string_view filter, SubscriberId subscriber);

  // Removes every subscription of `subscriber` (a session that has ended).
  void remove(SubscriberId subscriber);

  // The filters `subscriber` holds, as subscribed ("$share/…" included), in order.
  std::vector<std::string> filters_of(SubscriberId subscriber) const;

  // Where a message on `topic` (a valid topic name) goes. `publisher`, when the message
  // came from a session, is left out of its own subscriptions that ask for no local
  // [MQTT-3.8.3-3]. A filter starting with a wildcard does not match a topic starting with
  // '$' [MQTT-4.7.2-1].
  Matches match(std::string_view topic, std::optional<SubscriberId> publisher) const;

 private:
  struct Node;
  struct Place {        // where one filter lives in the tree
    std::string path;   // the filter without any "$share/{group}/"
    std::string group;  // empty: not shared
  };

  static Place place_of(std::string_view filter);
  Node* find(std::string_view path) const;
  // Removes the nodes of `path` that hold nothing any more, deepest first.
  void prune(std::string_view path);

  std::unique_ptr<Node> root_;
  std::unordered_map<SubscriberId, std::set<std::string>> filters_;  // as subscribed
};

}  // namespace herald::mqtt
