#include "pubsub.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <deque>
#include <memory>
#include <stdexcept>

#include "async_tools.h"
#include "mqtt/packet_decoder.h"
#include "mqtt/packet_encoder.h"

namespace herald::bench {
namespace {

constexpr size_t kBatchBytes = 64 * 1024;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

void put_u64(char* at, uint64_t value) {
  std::memcpy(at, &value, sizeof value);
}

uint64_t get_u64(const char* at) {
  uint64_t value;
  std::memcpy(&value, at, sizeof value);
  return value;
}

constexpr auto kResendPause = std::chrono::milliseconds(1);

// The publisher's state shared by its writer and its PUBACK reader.
struct Flight {
  explicit Flight(asio::any_io_executor executor)
      : changed(std::move(executor)), sequence_of(65536) {}

  // Packet identifiers 1 .. 65535 in turn (0 is not one, MQTT 5 2.2.1), whatever is sent.
  uint16_t next_packet_id() {
    last_packet_id = static_cast<uint16_t>(last_packet_id % 65535 + 1);
    return last_packet_id;
  }

  uint64_t in_flight = 0;
  bool ended = false;  // the reader stopped: no more PUBACKs will come
  Signal changed;
  uint16_t last_packet_id = 0;
  std::vector<uint64_t> sequence_of;  // packet identifier → the message it carries
  std::deque<uint64_t> resend;        // refused messages to send again, oldest first
  Clock::time_point pause_until{};    // no sending before, after a refusal
};

asio::awaitable<void> read_pubacks(LoadClient& client, uint64_t expected, bool resend_refused,
                                   PublishReport& report, std::shared_ptr<Flight> flight) {
  try {
    while (report.acked < expected) {
      mqtt::Packet packet = co_await client.read_packet();
      auto* puback = std::get_if<mqtt::Puback>(&packet);
      if (puback == nullptr) continue;  // nothing else is expected; PINGRESP would be harmless
      --flight->in_flight;
      flight->changed.notify();
      if (resend_refused && puback->reason == mqtt::ReasonCode::quota_exceeded) {
        flight->resend.push_back(flight->sequence_of[puback->packet_id]);
        flight->pause_until = Clock::now() + kResendPause;
        continue;
      }
      ++report.acked;
      if (mqtt::is_failure(puback->reason)) {
        ++report.failed_acks[static_cast<unsigned>(puback->reason)];
      }
    }
  } catch (const std::exception& error) {
    if (report.error.empty()) report.error = "reading PUBACKs: " + error_text(error);
  }
  flight->ended = true;
  flight->changed.notify();
}

// Waits until `at`, or returns at once if it has passed.
asio::awaitable<void> sleep_until(Clock::time_point at) {
  asio::steady_timer timer(co_await asio::this_coro::executor, at);
  co_await timer.async_wait(asio::use_awaitable);
}

}  // namespace

PublishTemplate::PublishTemplate(mqtt::ProtocolVersion version, const std::string& topic,
                                 mqtt::QoS qos, size_t payload_size)
    : qos_(qos) {
  if (payload_size < kMinPayloadSize) throw std::invalid_argument("payload under 16 bytes");
  mqtt::Publish publish;
  publish.qos = qos;
  publish.topic = topic;
  publish.packet_id = qos == mqtt::QoS::at_most_once ? 0 : 1;
  publish.payload.assign(payload_size, 'x');
  packet_ = mqtt::encode_packet(publish, version);
  // MQTT 5 3.3.2 / 3.3.3: the payload ends the packet; before it the property length (one
  // byte, 0: no properties; MQTT 5 only), before that the packet identifier at QoS > 0.
  payload_offset_ = packet_.size() - payload_size;
  packet_id_offset_ = payload_offset_ - (version == mqtt::ProtocolVersion::v5 ? 1 : 0) - 2;

  std::string probe;
  append(probe, 0xABCD, 0x0102030405060708, 42);
  mqtt::PacketDecoder decoder(mqtt::Sender::client);
  decoder.set_version(version);
  decoder.feed(probe);
  mqtt::DecodeResult decoded = decoder.next();
  auto* packet = std::get_if<mqtt::Packet>(&decoded);
  auto* check = packet ? std::get_if<mqtt::Publish>(packet) : nullptr;
  if (check == nullptr || check->topic != topic || check->payload.size() != payload_size ||
      get_u64(check->payload.data()) != 0x0102030405060708 ||
      (qos != mqtt::QoS::at_most_once && check->packet_id != 0xABCD)) {
    throw std::logic_error("PUBLISH template: the encoder's layout is not the one assumed");
  }
}

void PublishTemplate::append(std::string& out, uint16_t packet_id, uint64_t sequence,
                             int64_t sent_ns) const {
  const size_t start = out.size();
  out.append(packet_);
  char* packet = out.data() + start;
  if (qos_ != mqtt::QoS::at_most_once) {
    packet[packet_id_offset_] = static_cast<char>(packet_id >> 8);
    packet[packet_id_offset_ + 1] = static_cast<char>(packet_id & 0xFF);
  }
  put_u64(packet + payload_offset_, sequence);
  put_u64(packet + payload_offset_ + 8, static_cast<uint64_t>(sent_ns));
}

asio::awaitable<PublishReport> publish(LoadClient& client, const mqtt::Connack& connack,
                                       PublishPlan plan) {
  PublishReport report;
  const bool acked = plan.qos != mqtt::QoS::at_most_once;
  report.broker_receive_maximum = connack.properties.receive_maximum.value_or(65535);
  report.window = acked ? std::min(plan.window, report.broker_receive_maximum) : 0;
  const PublishTemplate publishes(client.version(), plan.topic, plan.qos, plan.payload_size);
  auto flight = std::make_shared<Flight>(co_await asio::this_coro::executor);
  if (acked) {
    asio::co_spawn(co_await asio::this_coro::executor,
                   read_pubacks(client, plan.messages, plan.resend_refused, report, flight),
                   asio::detached);
  }
  const Clock::time_point start = Clock::now();
  const auto interval = plan.rate > 0 ? std::chrono::duration<double>(1.0 / plan.rate)
                                      : std::chrono::duration<double>(0);
  const auto work_left = [&] { return report.sent < plan.messages || !flight->resend.empty(); };
  std::string batch;
  try {
    while (!flight->ended && (acked || work_left())) {
      if (!work_left() || (acked && flight->in_flight >= report.window)) {
        co_await flight->changed.wait();
        continue;
      }
      if (Clock::now() < flight->pause_until) {
        co_await sleep_until(flight->pause_until);
        continue;
      }
      if (plan.rate > 0 && flight->resend.empty()) {
        co_await sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                         interval * static_cast<double>(report.sent)));
      }
      batch.clear();
      do {
        uint64_t sequence = report.sent;
        if (!flight->resend.empty()) {
          sequence = flight->resend.front();
          flight->resend.pop_front();
          ++report.resent;
        } else {
          ++report.sent;
        }
        const uint16_t packet_id = acked ? flight->next_packet_id() : 0;
        if (acked) {
          flight->sequence_of[packet_id] = sequence;
          ++flight->in_flight;
        }
        publishes.append(batch, packet_id, sequence, now_ns());
      } while (plan.rate == 0 && work_left() && batch.size() < kBatchBytes &&
               (!acked || flight->in_flight < report.window));
      co_await client.write(batch);
    }
    report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (report.error.empty()) co_await client.send(mqtt::Disconnect{});
  } catch (const std::exception& error) {
    if (report.error.empty()) report.error = "publishing: " + error_text(error);
  }
  client.close();
  // The PUBACK reader holds `report` and `client` by reference: it must have ended (the
  // close ends its read) before they go.
  while (acked && !flight->ended) co_await flight->changed.wait();
  co_return report;
}

asio::awaitable<void> receive(LoadClient& client, uint64_t expected, Reception& reception,
                              uint64_t& own) {
  std::string acks;
  uint64_t last_sequence = 0;
  bool any = false;
  while (own < expected) {
    while (auto packet = client.next_packet()) {
      auto* message = std::get_if<mqtt::Publish>(&*packet);
      if (message == nullptr || message->payload.size() < kMinPayloadSize) continue;
      const Clock::time_point now = Clock::now();
      if (reception.received++ == 0) reception.first = now;
      reception.last = now;
      ++own;
      const uint64_t sequence = get_u64(message->payload.data());
      if (any && sequence <= last_sequence) ++reception.out_of_order;
      last_sequence = sequence;
      any = true;
      if (reception.keep_latencies) {
        const auto sent = static_cast<int64_t>(get_u64(message->payload.data() + 8));
        reception.latencies_ns.push_back(
            std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count() -
            sent);
      }
      if (message->qos == mqtt::QoS::at_least_once) {
        acks +=
            mqtt::encode_packet(mqtt::Puback{.packet_id = message->packet_id}, client.version());
      }
    }
    if (!acks.empty()) {
      co_await client.write(acks);
      acks.clear();
    }
    if (own < expected) co_await client.read_some();
  }
}

}  // namespace herald::bench
