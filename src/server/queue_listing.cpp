#include "server/queue_listing.h"

#include <algorithm>
#include <array>
#include <vector>

#include "server/message_report.h"
#include "server/printable_text.h"
#include "util/ascii.h"
#include "util/time_text.h"

namespace herald {
namespace {

struct ListedMessage {
  MessageRecord message;
  std::vector<Delivery> deliveries;
};

// The domain of the final address (a local mailbox or a remote recipient), lower case.
std::string destination_of(const Delivery& d) {
  const size_t at = d.mailbox.rfind('@');
  return at == std::string::npos ? std::string() : ascii_lower(d.mailbox.substr(at + 1));
}

bool delivery_matches(const Delivery& d, const QueueListFilter& filter) {
  if (!filter.state.empty()) {
    if (to_string(d.state) != filter.state) return false;
  } else if (!filter.all && is_terminal(d.state)) {
    return false;
  }
  return filter.destination.empty() || destination_of(d) == filter.destination;
}

bool matches(const MessageRecord& m, const std::vector<Delivery>& deliveries,
             const QueueListFilter& filter) {
  if (filter.priority && m.qos.priority != *filter.priority) return false;
  if (filter.min_priority && m.qos.priority < *filter.min_priority) return false;
  return std::any_of(deliveries.begin(), deliveries.end(),
                     [&](const Delivery& d) { return delivery_matches(d, filter); });
}

// Newest first. Messages with work left are found through the pending set; a terminal
// state or --all needs a walk over every message.
std::vector<ListedMessage> select_messages(Store& store, const QueueListFilter& filter) {
  std::vector<ListedMessage> out;
  const auto want = [&](size_t have) { return filter.limit == 0 || have < filter.limit; };
  const auto state = parse_delivery_state(filter.state);
  if (filter.all || (state && is_terminal(*state))) {
    store.for_each_message([&](const MessageRecord& m) {
      auto deliveries = store.deliveries(m.id);
      if (matches(m, deliveries, filter)) out.push_back({m, std::move(deliveries)});
      return want(out.size());
    });
    return out;
  }
  std::vector<std::string> ids;
  for (const Delivery& d : store.pending_deliveries()) {
    if (ids.empty() || ids.back() != d.message_id) ids.push_back(d.message_id);
  }
  for (auto id = ids.rbegin(); id != ids.rend() && want(out.size()); ++id) {
    auto message = store.message(*id);
    auto deliveries = store.deliveries(*id);
    if (message && matches(*message, deliveries, filter)) {
      out.push_back({*message, std::move(deliveries)});
    }
  }
  return out;
}

}  // namespace

size_t write_queue_listing(Store& store, const QueueListFilter& filter, std::ostream& out) {
  const auto messages = select_messages(store, filter);
  if (messages.empty()) {
    out << "queue is empty\n";
    return 0;
  }
  std::vector<std::array<std::string, 6>> rows = {
      {"ID", "RECEIVED", "SIZE", "PRIO", "FROM", "DELIVERIES"}};
  for (const auto& [m, deliveries] : messages) {
    std::string summary;
    for (const auto& d : deliveries) {
      if (!summary.empty()) summary += " ";
      summary += printable(d.mailbox) + ":" + std::string(to_string(d.state));
      if (d.held) summary += "(held)";
    }
    rows.push_back({m.id, format_utc(m.received_at), std::to_string(m.size),
                    std::to_string(m.qos.priority), sender_text(m), summary});
  }
  std::array<size_t, 5> widths{};
  for (const auto& row : rows) {
    for (size_t i = 0; i < widths.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    for (size_t i = 0; i < widths.size(); ++i) out << padded(row[i], widths[i]) << "  ";
    out << row[5] << "\n";
  }
  return messages.size();
}

}  // namespace herald
