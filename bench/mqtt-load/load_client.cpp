#include "load_client.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/system_error.hpp>
#include <variant>

#include "mqtt/packet_encoder.h"

namespace herald::bench {
namespace {

std::string reason_text(mqtt::ReasonCode reason) {
  return fmt::format("0x{:02X}", static_cast<unsigned>(reason));
}

// The broker's bytes are checked as the server's: a client must also refuse what a server
// may not send. The packet limit is the codec's largest: the tool sends what it receives.
mqtt::DecoderLimits client_limits() {
  mqtt::DecoderLimits limits;
  limits.max_packet_size = mqtt::kMaxVariableByteInteger;
  return limits;
}

}  // namespace

std::string error_text(const std::exception& error) {
  if (auto* system = dynamic_cast<const boost::system::system_error*>(&error)) {
    // MQTT 3.1.1 has no refusal codes: a broker that will not take a publish closes.
    if (system->code() == asio::error::eof) return "the broker closed the connection";
    return system->code().message();
  }
  return error.what();
}

LoadClient::LoadClient(asio::any_io_executor executor, mqtt::ProtocolVersion version,
                       size_t read_buffer_size)
    : socket_(std::move(executor)),
      version_(version),
      decoder_(mqtt::Sender::server, client_limits()),
      read_buffer_(read_buffer_size) {
  // MQTT 5 4.1: the client reads every packet after its CONNECT in the version it asked for.
  decoder_.set_version(version);
}

asio::awaitable<void> LoadClient::connect(tcp::endpoint server,
                                          std::optional<asio::ip::address> source) {
  socket_.open(server.protocol());
  if (source) {
    // Without IP_BIND_ADDRESS_NO_PORT, bind() picks the port before the destination is
    // known and each source address runs out of ports sooner.
    const int on = 1;
    ::setsockopt(socket_.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof on);
    socket_.bind(tcp::endpoint(*source, 0));
  }
  co_await socket_.async_connect(server, asio::use_awaitable);
  socket_.set_option(tcp::no_delay(true));
}

asio::awaitable<mqtt::Connack> LoadClient::handshake(const SessionRequest& request) {
  mqtt::Connect connect;
  connect.version = version_;
  connect.clean_start = request.clean_start;
  connect.keep_alive = request.keep_alive;
  connect.client_id = request.client_id;
  if (version_ == mqtt::ProtocolVersion::v5) {
    if (request.session_expiry > 0) {
      connect.properties.session_expiry_interval = request.session_expiry;
    }
    // MQTT 5 3.1.2.11.3: absent means 65,535; sent only when it says something.
    if (request.receive_maximum != 65535) {
      connect.properties.receive_maximum = request.receive_maximum;
    }
  }
  co_await send(connect);
  mqtt::Packet answer = co_await read_packet();
  auto* connack = std::get_if<mqtt::Connack>(&answer);
  if (connack == nullptr) {
    throw ClientError(fmt::format("expected CONNACK, got {}", to_string(packet_type(answer))));
  }
  if (mqtt::is_failure(connack->reason)) {
    throw ClientError("CONNACK refused with " + reason_text(connack->reason));
  }
  co_return std::move(*connack);
}

asio::awaitable<void> LoadClient::subscribe(const std::string& filter, mqtt::QoS qos) {
  mqtt::Subscribe subscribe;
  subscribe.packet_id = 1;
  subscribe.subscriptions.push_back({filter, {.max_qos = qos}});
  co_await send(subscribe);
  mqtt::Packet answer = co_await read_packet();
  auto* suback = std::get_if<mqtt::Suback>(&answer);
  if (suback == nullptr || suback->packet_id != 1 || suback->reasons.size() != 1) {
    throw ClientError(
        fmt::format("expected the SUBACK of packet 1, got {}", to_string(packet_type(answer))));
  }
  // SUBACK's reason is the granted QoS (0-2) or a failure (MQTT 5 3.9.3).
  if (mqtt::is_failure(suback->reasons[0]) ||
      static_cast<uint8_t>(suback->reasons[0]) < static_cast<uint8_t>(qos)) {
    throw ClientError(fmt::format("SUBSCRIBE {} at QoS {} answered {}", filter,
                                  static_cast<int>(qos), reason_text(suback->reasons[0])));
  }
}

asio::awaitable<void> LoadClient::write(std::string_view bytes) {
  co_await asio::async_write(socket_, asio::buffer(bytes.data(), bytes.size()),
                             asio::use_awaitable);
}

asio::awaitable<void> LoadClient::send(const mqtt::Packet& packet) {
  const std::string bytes = mqtt::encode_packet(packet, version_);
  co_await write(bytes);
}

std::optional<mqtt::Packet> LoadClient::next_packet() {
  mqtt::DecodeResult result = decoder_.next();
  if (auto* packet = std::get_if<mqtt::Packet>(&result)) {
    if (auto* disconnect = std::get_if<mqtt::Disconnect>(packet)) {
      throw ClientError("the broker sent DISCONNECT " + reason_text(disconnect->reason));
    }
    return std::move(*packet);
  }
  if (auto* error = std::get_if<mqtt::DecodeError>(&result)) {
    throw ClientError("undecodable packet from the broker: " + error->message);
  }
  return std::nullopt;
}

asio::awaitable<void> LoadClient::read_some() {
  const size_t size =
      co_await socket_.async_read_some(asio::buffer(read_buffer_), asio::use_awaitable);
  decoder_.feed(std::string_view(read_buffer_.data(), size));
}

asio::awaitable<mqtt::Packet> LoadClient::read_packet() {
  for (;;) {
    if (auto packet = next_packet()) co_return std::move(*packet);
    co_await read_some();
  }
}

void LoadClient::close() {
  boost::system::error_code ignored;
  socket_.close(ignored);
}

}  // namespace herald::bench
