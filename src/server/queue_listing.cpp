#include "server/queue_listing.h"

#include <algorithm>
#include <vector>

#include "server/message_report.h"
#include "server/printable_text.h"
#include "util/ascii.h"
#include "util/time_text.h"

namespace herald {
namespace {

constexpr size_t kIdWidth = 26;        // a message id is always 26 characters
constexpr size_t kReceivedWidth = 24;  // format_utc: 2023-11-14T22:13:20.123Z
constexpr size_t kSizeWidth = 10;      // octets, up to 9,999,999,999
constexpr size_t kPriorityWidth = 4;   // -9 … 9
constexpr size_t kFromWidth = 32;
constexpr const char* kGap = "  ";
constexpr size_t kDeliveriesColumn =
    kIdWidth + kReceivedWidth + kSizeWidth + kPriorityWidth + kFromWidth + 5 * 2;

std::string right_aligned(const std::string& text, size_t width) {
  return text.size() < width ? std::string(width - text.size(), ' ') + text : text;
}

// The domain of the final address (a local mailbox or a remote recipient), lower case.
std::string destination_of(const Delivery& d) {
  const size_t at = d.mailbox.rfind('@');
  return at == std::string::npos ? std::string() : ascii_lower(d.mailbox.substr(at + 1));
}

bool priority_matches(const MessageRecord& m, const QueueListFilter& filter) {
  if (filter.priority && m.qos.priority != *filter.priority) return false;
  return !filter.min_priority || m.qos.priority >= *filter.min_priority;
}

bool delivery_matches(const Delivery& d, const QueueListFilter& filter) {
  if (!filter.state.empty()) {
    if (to_string(d.state) != filter.state) return false;
  } else if (!filter.all && is_terminal(d.state)) {
    return false;
  }
  return filter.destination.empty() || destination_of(d) == filter.destination;
}

void write_header(std::ostream& out) {
  out << padded("ID", kIdWidth) << kGap << padded("RECEIVED", kReceivedWidth) << kGap
      << right_aligned("SIZE", kSizeWidth) << kGap << right_aligned("PRIO", kPriorityWidth) << kGap
      << padded("FROM", kFromWidth) << kGap << "DELIVERIES\n";
}

// `deliveries` is not empty: only a message with a matching delivery is listed.
void write_row(std::ostream& out, const MessageRecord& m, const std::vector<Delivery>& deliveries) {
  out << padded(m.id, kIdWidth) << kGap << padded(format_utc(m.received_at), kReceivedWidth) << kGap
      << right_aligned(std::to_string(m.size), kSizeWidth) << kGap
      << right_aligned(std::to_string(m.qos.priority), kPriorityWidth) << kGap
      << padded(truncated(sender_text(m), kFromWidth), kFromWidth) << kGap;
  bool first = true;
  for (const Delivery& d : deliveries) {
    if (!first) out << std::string(kDeliveriesColumn, ' ');
    first = false;
    out << printable(d.mailbox) << ":" << to_string(d.state) << (d.held ? "(held)" : "") << "\n";
  }
}

}  // namespace

size_t write_queue_listing(Store& store, const QueueListFilter& filter, std::ostream& out) {
  size_t written = 0;
  store.for_each_message([&](const MessageRecord& m) {
    if (!priority_matches(m, filter)) return true;
    const std::vector<Delivery> deliveries = store.deliveries(m.id);
    if (std::none_of(deliveries.begin(), deliveries.end(),
                     [&](const Delivery& d) { return delivery_matches(d, filter); })) {
      return true;
    }
    if (written == 0) write_header(out);
    write_row(out, m, deliveries);
    ++written;
    return filter.limit == 0 || written < filter.limit;
  });
  if (written == 0) out << "queue is empty\n";
  return written;
}

size_t write_damaged_listing(Store& store, size_t limit, std::ostream& out) {
  constexpr size_t kAll = 1'000'000;
  const std::vector<DamagedRecord> damaged = store.damaged_records(limit == 0 ? kAll : limit);
  if (damaged.empty()) {
    out << "no damaged records\n";
    return 0;
  }
  out << padded("FOUND", kReceivedWidth) << kGap << padded("FAMILY", 10) << kGap
      << padded("KEY", 37) << kGap << right_aligned("SIZE", 8) << kGap << "REASON\n";
  for (const DamagedRecord& d : damaged) {
    out << padded(format_utc(d.found_at), kReceivedWidth) << kGap
        << padded(truncated(printable(d.family), 10), 10) << kGap
        << padded(truncated(printable(d.key), 37), 37) << kGap
        << right_aligned(std::to_string(d.bytes.size()), 8) << kGap << printable(d.reason) << "\n";
  }
  return damaged.size();
}

}  // namespace herald
