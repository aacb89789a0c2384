#include "server/mqtt_session_listing.h"

#include <algorithm>
#include <string>

#include "server/printable_text.h"
#include "util/time_text.h"

namespace herald {
namespace {

constexpr size_t kMaxClientWidth = 32;
constexpr size_t kConnectedWidth = 24;  // format_utc: 2023-11-14T22:13:20.123Z
constexpr const char* kGap = "  ";

std::string right_aligned(const std::string& text, size_t width) {
  return text.size() < width ? std::string(width - text.size(), ' ') + text : text;
}

// The broker reads a session's held count and its in-flight count a moment apart, so the
// second may briefly pass the first: nothing waits then.
uint32_t queued(const mqtt::SessionSnapshot& session) {
  return session.held > session.in_flight ? session.held - session.in_flight : 0;
}

struct Widths {
  size_t client = 6;  // "CLIENT"
  size_t peer = 4;    // "PEER"
};

Widths widths_of(const mqtt::SessionList& list) {
  Widths widths;
  for (const mqtt::SessionSnapshot& session : list.sessions) {
    widths.client = std::max(widths.client, printable(session.client_id).size());
    widths.peer = std::max(widths.peer, printable(session.peer).size());
  }
  widths.client = std::min(widths.client, kMaxClientWidth);
  return widths;
}

void write_header(const Widths& widths, std::ostream& out) {
  out << padded("CLIENT", widths.client) << kGap << padded("PEER", widths.peer) << kGap
      << padded("VERSION", 7) << kGap << padded("CONNECTED", kConnectedWidth) << kGap
      << "SUBSCRIPTIONS" << kGap << "QUEUED" << kGap << "IN-FLIGHT" << kGap
      << right_aligned("BYTES", 10) << "\n";
}

void write_row(const Widths& widths, const mqtt::SessionSnapshot& session, std::ostream& out) {
  out << padded(truncated(printable(session.client_id), widths.client), widths.client) << kGap
      << padded(printable(session.peer), widths.peer) << kGap
      << padded(std::string(mqtt::version_name(session.version)), 7) << kGap
      << padded(format_utc(session.connected), kConnectedWidth) << kGap
      << right_aligned(std::to_string(session.subscriptions), 13) << kGap
      << right_aligned(std::to_string(queued(session)), 6) << kGap
      << right_aligned(std::to_string(session.in_flight), 9) << kGap
      << right_aligned(std::to_string(session.held_bytes), 10) << "\n";
}

}  // namespace

void write_mqtt_sessions(const mqtt::SessionList& list, std::ostream& out) {
  if (!list.sessions.empty()) {
    const Widths widths = widths_of(list);
    write_header(widths, out);
    for (const mqtt::SessionSnapshot& session : list.sessions) write_row(widths, session, out);
  }
  if (list.sessions.size() < list.total) out << list.sessions.size() << " of ";
  out << list.total << (list.total == 1 ? " session" : " sessions") << "\n";
}

}  // namespace herald
