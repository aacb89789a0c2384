// The MQTT session must take any byte stream from a client, cut anywhere, without crashing,
// reading out of bounds or hitting undefined behaviour, and whatever it writes back, to that
// client or to a subscriber the client's messages reach, must be well-formed packets a
// client can read.
//
// The first input byte chooses the size of the pieces the rest is fed in (bits 0-5, 0
// meaning all at once) and whether the login is refused (bit 6). A second session,
// subscribed to every topic with a window of one, receives what the fuzzed one publishes.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "mqtt/packet_decoder.h"
#include "mqtt/packet_encoder.h"
#include "mqtt/session.h"

namespace {

using namespace herald::mqtt;

class QueuedSink : public SessionSink {
 public:
  void deliver(Outgoing outgoing) override { deliveries.push_back(std::move(outgoing)); }
  void taken_over() override { ++takeovers; }
  void stored() override { ++stored_wakes; }

  std::deque<Outgoing> deliveries;
  int takeovers = 0;
  int stored_wakes = 0;
};

// One side of the conversation: the session and a client's reading of what it writes.
struct Side {
  Side(const SessionOptions& options, const std::shared_ptr<Broker>& broker,
       const herald::Clock& clock)
      : session(options, broker, clock, sink, "127.0.0.1:1") {}

  std::shared_ptr<QueuedSink> sink = std::make_shared<QueuedSink>();
  Session session;
  PacketDecoder reader{Sender::server};

  // Reads all the session wrote; herald writing a packet a client cannot read is the bug.
  void read_output() {
    while (session.has_output()) {
      reader.feed(session.take_output());
      while (true) {
        const DecodeResult result = reader.next();
        if (std::holds_alternative<DecodeError>(result)) __builtin_trap();
        if (std::holds_alternative<NeedMore>(result)) break;
      }
    }
  }

  void settle() {
    while (!sink->deliveries.empty()) {
      session.on_delivery(std::move(sink->deliveries.front()));
      sink->deliveries.pop_front();
    }
    for (; sink->takeovers > 0; --sink->takeovers) session.on_taken_over();
  }
};

const std::shared_ptr<const Grant> kEverything = std::make_shared<Grant>(
    "", std::vector<std::string>{"#"}, std::vector<std::string>{"#"},
    std::vector<std::string>{"deny/#"});

SessionOptions options() {
  SessionOptions o;
  o.terms.max_session_expiry = 0;
  o.terms.receive_maximum = 4;
  o.limits.max_packet_size = 64 * 1024;
  o.max_subscriptions = 8;
  return o;
}

// The watcher connects in MQTT 5 with a window of one and subscribes to everything.
void connect_watcher(Side& watcher) {
  Connect connect{.keep_alive = 60, .client_id = "watcher"};
  connect.properties.receive_maximum = 1;
  watcher.reader.set_version(ProtocolVersion::v5);
  watcher.session.on_bytes(encode_packet(connect, ProtocolVersion::v5));
  watcher.session.on_login(kEverything);
  Subscribe subscribe{.packet_id = 1};
  subscribe.subscriptions.push_back({"#", SubscriptionOptions{.max_qos = QoS::exactly_once}});
  watcher.session.on_bytes(encode_packet(subscribe, ProtocolVersion::v5));
  watcher.read_output();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = data[0] & 0x3F;
  const bool refuse = data[0] & 0x40;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  static const SessionOptions kOptions = options();
  const herald::ManualClock clock(herald::from_unix_ms(1'800'000'000'000));
  auto broker = std::make_shared<Broker>(BrokerLimits{.max_queued_messages = 16,
                                                      .max_queued_bytes = 256 * 1024});
  Side watcher(kOptions, broker, clock);
  connect_watcher(watcher);
  Side fuzzed(kOptions, broker, clock);
  // The client's own reading of its CONNECT tells which version herald answers in.
  PacketDecoder connect_reader(Sender::client);
  connect_reader.feed(input.substr(0, 4096));
  if (const auto first = connect_reader.next(); std::holds_alternative<Packet>(first)) {
    if (const auto* connect = std::get_if<Connect>(&std::get<Packet>(first))) {
      fuzzed.reader.set_version(connect->version);
    }
  }
  if (!fuzzed.reader.version()) fuzzed.reader.set_version(ProtocolVersion::v3_1_1);

  while (!input.empty() && !fuzzed.session.ended()) {
    const size_t take = piece == 0 ? input.size() : std::min(piece, input.size());
    fuzzed.session.on_bytes(input.substr(0, take));
    input.remove_prefix(take);
    if (fuzzed.session.credentials_to_check()) {
      if (refuse) {
        fuzzed.session.on_login(LoginRefusal::bad_credentials);
      } else {
        fuzzed.session.on_login(kEverything);
      }
    }
    watcher.settle();
    fuzzed.settle();
    fuzzed.read_output();
    watcher.read_output();
  }
  fuzzed.session.on_connection_lost();
  watcher.settle();
  watcher.read_output();
  return 0;
}
