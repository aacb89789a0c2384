// One MQTT client connection of the load generator (bench/mqtt-load): TCP through Boost.Asio
// coroutines, packets through herald's own sans-I/O codec (mqtt/packet_encoder.h,
// mqtt/packet_decoder.h), so the benchmark also exercises the codec herald's broker uses.
//
// Not thread-safe: a client and everything it awaits live on one io_context's thread. Errors
// are exceptions (boost::system::system_error from the socket, ClientError from the protocol):
// a load generator has nothing to do on a broken connection but count it.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "mqtt/packet.h"
#include "mqtt/packet_decoder.h"

namespace herald::bench {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// The broker answered something the scenario cannot go on with (a CONNACK refusal, a
// DISCONNECT, an unexpected packet, bytes the codec refused).
class ClientError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What went wrong, for a result line: a socket error's message without Asio's source location.
std::string error_text(const std::exception& error);

// What a client asks for in CONNECT.
struct SessionRequest {
  std::string client_id;  // never empty: the tool names every client
  bool clean_start = true;
  // MQTT 5 3.1.2.11.2, seconds; 0 ends the session with the connection. In 3.1.1 a session
  // persists exactly when clean_start is false, and this is not sent.
  uint32_t session_expiry = 0;
  uint16_t keep_alive = 300;  // seconds; a scenario must end before the broker would time it out
  uint16_t receive_maximum =
      65535;  // MQTT 5 3.1.2.11.3: QoS 1 publishes the broker may have unacked
};

class LoadClient {
 public:
  // `read_buffer_size`: bytes asked of each socket read (a subscriber of a fast stream wants
  // many packets per read; a thousand fan-out subscribers want little memory each).
  LoadClient(asio::any_io_executor executor, mqtt::ProtocolVersion version,
             size_t read_buffer_size = 64 * 1024);

  // Opens the TCP connection, from `source` when given (its port chosen by the kernel at
  // connect, per destination, so each source address gives a whole ephemeral range), with
  // TCP_NODELAY: latency figures must not include Nagle's delay.
  asio::awaitable<void> connect(tcp::endpoint server, std::optional<asio::ip::address> source);

  // CONNECT, then the CONNACK. Returns it when it reports success; ClientError otherwise.
  asio::awaitable<mqtt::Connack> handshake(const SessionRequest& request);

  // One SUBSCRIBE of `filter` at `qos`, packet identifier 1, then its SUBACK; ClientError
  // unless the broker granted at least `qos`.
  asio::awaitable<void> subscribe(const std::string& filter, mqtt::QoS qos);

  // Writes `bytes` (whole encoded packets) in full; `bytes` must stay alive until resumed.
  asio::awaitable<void> write(std::string_view bytes);
  asio::awaitable<void> send(const mqtt::Packet& packet);

  // A packet already read and decoded, without I/O; nullopt when more bytes are needed.
  // Throws ClientError when the bytes are not a valid packet.
  std::optional<mqtt::Packet> next_packet();
  // Reads what the socket has (at least one byte) into the decoder; throws at end of stream.
  asio::awaitable<void> read_some();
  // next_packet(), reading as needed.
  asio::awaitable<mqtt::Packet> read_packet();

  // Closes the socket; pending operations end with an error. Idempotent.
  void close();
  bool is_open() const { return socket_.is_open(); }

  mqtt::ProtocolVersion version() const { return version_; }
  // Hands the connected socket over (an idle connection needs nothing else) and leaves this
  // client closed.
  tcp::socket release_socket() { return std::move(socket_); }

 private:
  tcp::socket socket_;
  mqtt::ProtocolVersion version_;
  mqtt::PacketDecoder decoder_;
  std::vector<char> read_buffer_;
};

}  // namespace herald::bench
