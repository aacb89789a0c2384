#include "mqtt/topic_tree.h"

#include <algorithm>
#include <tuple>

#include "mqtt/topic.h"

namespace herald::mqtt {

struct TopicTree::Node {
  std::map<std::string, std::unique_ptr<Node>, std::less<>> children;  // by level
  std::map<SubscriberId, Subscription> plain;
  std::map<std::string, std::map<SubscriberId, Subscription>, std::less<>> groups;

  bool holds_nothing() const { return children.empty() && plain.empty() && groups.empty(); }

  const Node* child(std::string_view level) const {
    const auto found = children.find(level);
    return found == children.end() ? nullptr : found->second.get();
  }
};

namespace {

// "a//b" is three levels: "a", "", "b" (MQTT 5 4.7.1.1: empty levels are levels).
std::vector<std::string_view> levels_of(std::string_view path) {
  std::vector<std::string_view> levels;
  for (;;) {
    const size_t slash = path.find('/');
    levels.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) return levels;
    path.remove_prefix(slash + 1);
  }
}

std::string joined(const std::vector<std::string_view>& levels) {
  std::string path;
  for (size_t i = 0; i < levels.size(); ++i) {
    if (i > 0) path += '/';
    path += levels[i];
  }
  return path;
}

// What one match finds, merged per subscriber as it goes.
class Collector {
 public:
  explicit Collector(std::optional<SubscriberId> publisher) : publisher_(publisher) {}

  void take_plain(const Subscription& s) {
    if (s.options.no_local && publisher_ == s.subscriber) return;
    auto [it, added] = recipients_.try_emplace(s.subscriber);
    Recipient& r = it->second;
    r.subscriber = s.subscriber;
    r.max_qos = added ? s.options.max_qos : std::max(r.max_qos, s.options.max_qos);
    r.retain_as_published = r.retain_as_published || s.options.retain_as_published;
    if (s.identifier) r.identifiers.push_back(*s.identifier);
  }

  void take_group(std::string_view group, std::string filter,
                  const std::map<SubscriberId, Subscription>& members) {
    SharedMatch match{std::string(group), std::move(filter), {}};
    for (const auto& [_, member] : members) match.members.push_back(member);
    shared_.push_back(std::move(match));
  }

  Matches result() && {
    Matches out;
    for (auto& [_, r] : recipients_) {
      std::sort(r.identifiers.begin(), r.identifiers.end());
      r.identifiers.erase(std::unique(r.identifiers.begin(), r.identifiers.end()),
                          r.identifiers.end());
      out.recipients.push_back(std::move(r));
    }
    std::sort(out.recipients.begin(), out.recipients.end(),
              [](const Recipient& a, const Recipient& b) { return a.subscriber < b.subscriber; });
    out.shared = std::move(shared_);
    std::sort(out.shared.begin(), out.shared.end(), [](const SharedMatch& a, const SharedMatch& b) {
      return std::tie(a.group, a.filter) < std::tie(b.group, b.filter);
    });
    return out;
  }

 private:
  std::optional<SubscriberId> publisher_;
  std::unordered_map<SubscriberId, Recipient> recipients_;
  std::vector<SharedMatch> shared_;
};

}  // namespace

TopicTree::TopicTree() : root_(std::make_unique<Node>()) {}
TopicTree::~TopicTree() = default;

TopicTree::Place TopicTree::place_of(std::string_view filter) {
  if (const auto shared = split_shared_filter(filter)) {
    return Place{std::string(shared->filter), std::string(shared->group)};
  }
  return Place{std::string(filter), {}};
}

TopicTree::Node* TopicTree::find(std::string_view path) const {
  Node* node = root_.get();
  for (const std::string_view level : levels_of(path)) {
    const auto found = node->children.find(level);
    if (found == node->children.end()) return nullptr;
    node = found->second.get();
  }
  return node;
}

bool TopicTree::subscribe(std::string_view filter, const Subscription& subscription) {
  const Place place = place_of(filter);
  Node* node = root_.get();
  for (const std::string_view level : levels_of(place.path)) {
    auto& child = node->children[std::string(level)];
    if (!child) child = std::make_unique<Node>();
    node = child.get();
  }
  auto& holders = place.group.empty() ? node->plain : node->groups[place.group];
  const bool replaced = holders.contains(subscription.subscriber);
  holders[subscription.subscriber] = subscription;
  filters_[subscription.subscriber].insert(std::string(filter));
  return replaced;
}

bool TopicTree::unsubscribe(std::string_view filter, SubscriberId subscriber) {
  const Place place = place_of(filter);
  Node* node = find(place.path);
  if (node == nullptr) return false;
  if (place.group.empty()) {
    if (node->plain.erase(subscriber) == 0) return false;
  } else {
    const auto group = node->groups.find(place.group);
    if (group == node->groups.end() || group->second.erase(subscriber) == 0) return false;
    if (group->second.empty()) node->groups.erase(group);
  }
  const auto held = filters_.find(subscriber);
  if (held != filters_.end()) {
    held->second.erase(std::string(filter));
    if (held->second.empty()) filters_.erase(held);
  }
  prune(place.path);
  return true;
}

void TopicTree::remove(SubscriberId subscriber) {
  const auto held = filters_.find(subscriber);
  if (held == filters_.end()) return;
  const std::set<std::string> filters = held->second;
  for (const std::string& filter : filters) unsubscribe(filter, subscriber);
}

std::vector<std::string> TopicTree::filters_of(SubscriberId subscriber) const {
  const auto held = filters_.find(subscriber);
  if (held == filters_.end()) return {};
  return {held->second.begin(), held->second.end()};
}

void TopicTree::prune(std::string_view path) {
  std::vector<std::pair<Node*, std::string_view>> chain;  // each node and its child's level
  Node* node = root_.get();
  for (const std::string_view level : levels_of(path)) {
    chain.emplace_back(node, level);
    node = node->children.find(level)->second.get();
  }
  for (auto step = chain.rbegin(); step != chain.rend(); ++step) {
    const auto child = step->first->children.find(step->second);
    if (!child->second->holds_nothing()) return;
    step->first->children.erase(child);
  }
}

Matches TopicTree::match(std::string_view topic, std::optional<SubscriberId> publisher) const {
  const std::vector<std::string_view> levels = levels_of(topic);
  const bool system_topic = !topic.empty() && topic.front() == '$';
  Collector out(publisher);
  std::vector<std::string_view> path;  // the filter levels of the node being visited
  // The subscriptions held at `node`, whose filter is `path`.
  const auto take = [&](const Node& node) {
    for (const auto& [_, s] : node.plain) out.take_plain(s);
    for (const auto& [group, members] : node.groups) out.take_group(group, joined(path), members);
  };
  // Depth first; each node is reached by one path only, so visited once.
  const auto visit = [&](const auto& self, const Node& node, size_t depth) -> void {
    const bool wildcards_match = depth > 0 || !system_topic;
    const Node* hash = wildcards_match ? node.child("#") : nullptr;
    if (hash != nullptr) {  // "a/#" matches "a" and everything below it
      path.push_back("#");
      take(*hash);
      path.pop_back();
    }
    if (depth == levels.size()) {
      take(node);
      return;
    }
    if (const Node* exact = node.child(levels[depth])) {
      path.push_back(levels[depth]);
      self(self, *exact, depth + 1);
      path.pop_back();
    }
    if (const Node* plus = wildcards_match ? node.child("+") : nullptr) {
      path.push_back("+");
      self(self, *plus, depth + 1);
      path.pop_back();
    }
  };
  visit(visit, *root_, 0);
  return std::move(out).result();
}

}  // namespace herald::mqtt
