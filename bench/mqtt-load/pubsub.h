// The two roles of the message scenarios (throughput, persistent, latency, fanout): a
// publisher that sends numbered, timestamped PUBLISHes as fast as flow control allows or at
// a set rate, and subscribers that count what arrives and acknowledge it.
//
// Payload layout, so that a subscriber needs no state shared with the publisher: bytes 0-7
// the message's sequence number, bytes 8-15 its send time (steady clock, nanoseconds; one
// process, so one clock), the rest filler.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "load_client.h"
#include "mqtt/packet.h"

namespace herald::bench {

using Clock = std::chrono::steady_clock;

inline constexpr size_t kMinPayloadSize = 16;  // the sequence number and the send time

// PUBLISH packets that differ only in packet identifier and the first 16 payload bytes,
// written by patching one packet that encode_packet() made: encoding each afresh costs the
// publisher more CPU than a fast broker spends on the message, and the publisher must not be
// what limits the rate. The constructor decodes a patched copy with herald's decoder and
// throws std::logic_error if the layout is not what append() assumes.
class PublishTemplate {
 public:
  PublishTemplate(mqtt::ProtocolVersion version, const std::string& topic, mqtt::QoS qos,
                  size_t payload_size);

  // Appends one PUBLISH to `out`. `packet_id` is ignored at QoS 0.
  void append(std::string& out, uint16_t packet_id, uint64_t sequence, int64_t sent_ns) const;

 private:
  std::string packet_;
  size_t payload_offset_ = 0;
  size_t packet_id_offset_ = 0;
  mqtt::QoS qos_;
};

struct PublishPlan {
  std::string topic;
  mqtt::QoS qos = mqtt::QoS::at_most_once;
  uint64_t messages = 0;
  size_t payload_size = 64;  // at least kMinPayloadSize
  // QoS 1: publishes unacknowledged at once, at most; the broker's Receive Maximum (CONNACK,
  // MQTT 5 3.2.2.3.3) lowers it. At most 32,768, so that a packet identifier is never reused
  // while in use, whatever order PUBACKs come in.
  uint16_t window = 100;
  // Publishes per second, each written on its own; 0: as fast as TCP and the window allow,
  // in batches of up to 64 KiB.
  double rate = 0;
  // QoS 1: a publish refused with 0x97 (quota exceeded: MQTT 5 3.4.2.1, a subscriber's queue
  // is full) is sent again, as a new PUBLISH with the same sequence number, after a pause of
  // 1 ms; as a device would, instead of losing it. Otherwise a refusal is final.
  bool resend_refused = false;
};

struct PublishReport {
  uint64_t sent = 0;                         // messages sent, not counting resends
  uint64_t acked = 0;                        // final PUBACKs, successful or not
  std::map<unsigned, uint64_t> failed_acks;  // final PUBACK reason code (>= 0x80) → count
  uint64_t resent = 0;                       // publishes refused with 0x97 and sent again
  uint16_t broker_receive_maximum = 65535;   // from CONNACK; absent means 65,535
  uint16_t window = 0;                       // what was used
  double seconds = 0;                        // from the first write to the last PUBACK
  std::string error;                         // empty when the publisher finished
};

// Publishes plan.messages on `client` (connected, CONNACK in `connack`), waits for every
// message's final PUBACK at QoS 1, then sends DISCONNECT. Failures end up in PublishReport::error.
asio::awaitable<PublishReport> publish(LoadClient& client, const mqtt::Connack& connack,
                                       PublishPlan plan);

// What every subscriber of one run received, together (they all run on one thread).
struct Reception {
  uint64_t received = 0;
  uint64_t out_of_order = 0;  // a sequence number not above the one before it, duplicates too
  Clock::time_point first{};
  Clock::time_point last{};
  bool keep_latencies = false;
  std::vector<int64_t> latencies_ns;  // publish to receipt, one per message, when kept
};

// Reads PUBLISHes on `client` (subscribed already) until `expected` have come, acknowledging
// QoS 1 ones in batches (one write per read), counting into `reception` and `own`. Ends with
// the exception that ended the connection (the run's watchdog closes it when nothing comes).
asio::awaitable<void> receive(LoadClient& client, uint64_t expected, Reception& reception,
                              uint64_t& own);

}  // namespace herald::bench
