// What the session tests share: a sink that holds what the broker hands a session, and a
// client that speaks to a Session with real packets and reads what it writes.
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <list>
#include <memory>
#include <vector>

#include "mqtt/packet_decoder.h"
#include "mqtt/packet_encoder.h"
#include "mqtt/session.h"
#include "mqtt/store_worker.h"

namespace herald::mqtt {

inline const TimePoint kStart = from_unix_ms(1'800'000'000'000);

// Holds what the broker hands a session until the test loop passes it on, as the
// connection's strand would.
class QueuedSink : public SessionSink {
 public:
  void deliver(Outgoing outgoing) override { deliveries.push_back(std::move(outgoing)); }
  void taken_over() override { ++takeovers; }
  void stored() override { ++stored_wakes; }

  std::deque<Outgoing> deliveries;
  int takeovers = 0;
  int stored_wakes = 0;
};

struct Client {
  ProtocolVersion version;
  std::shared_ptr<QueuedSink> sink = std::make_shared<QueuedSink>();
  std::unique_ptr<Session> session;
  PacketDecoder decoder{Sender::server};
  std::vector<Packet> received;

  void send(const Packet& packet) { session->on_bytes(encode_packet(packet, version)); }
  // Reads what the session wrote; returns it and keeps it in `received` too.
  std::vector<Packet> read() {
    decoder.feed(session->take_output());
    std::vector<Packet> packets;
    for (;;) {
      DecodeResult result = decoder.next();
      if (!std::holds_alternative<Packet>(result)) {
        EXPECT_TRUE(std::holds_alternative<NeedMore>(result)) << "herald wrote a bad packet";
        break;
      }
      packets.push_back(std::get<Packet>(result));
      received.push_back(packets.back());
    }
    return packets;
  }
  template <typename T>
  std::vector<T> read_all() {
    std::vector<T> of_type;
    for (Packet& p : read()) {
      if (auto* t = std::get_if<T>(&p)) of_type.push_back(*t);
    }
    return of_type;
  }
};

// Runs every session's store requests through `worker` and passes on the broker's wakes,
// takeovers and copies, until nothing moves: what the connections' strands would do.
inline void settle_with_store(std::list<Client>& clients, StoreWorker& worker) {
  for (bool moved = true; moved;) {
    moved = false;
    for (Client& client : clients) {
      for (; client.sink->stored_wakes > 0; --client.sink->stored_wakes) {
        client.session->on_queue_stored();
      }
      for (; client.sink->takeovers > 0; --client.sink->takeovers) {
        client.session->on_taken_over();
        moved = true;
      }
      while (!client.sink->deliveries.empty()) {
        client.session->on_delivery(std::move(client.sink->deliveries.front()));
        client.sink->deliveries.pop_front();
        moved = true;
      }
      while (std::optional<StoreRequest> request = client.session->take_store_request()) {
        client.session->on_stored(worker.perform(*request));
        moved = true;
      }
    }
  }
}

}  // namespace herald::mqtt
