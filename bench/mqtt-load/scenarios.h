// The scenarios of the load generator (bench/mqtt-load/mqtt_load.cpp), each returning the
// one JSON object it prints. Every scenario ends by itself: at its deadline at the latest.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "mqtt/packet.h"

namespace herald::bench {

struct CommonOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  mqtt::ProtocolVersion version = mqtt::ProtocolVersion::v5;
  std::string topic;  // empty: bench/<pid>, fresh for every run
  // A message scenario in all, connects included. (idle is bounded by its per-connection
  // timeout and its hold instead.)
  double timeout_seconds = 120;
  // After the publisher has finished, how long the subscribers may go without a message
  // before the run ends with what they have (QoS 0 may lose messages under overload).
  double quiet_seconds = 2;
  size_t connect_concurrency = 100;  // connects in progress at once, at most
};

// throughput, persistent, latency and fanout: one publisher, `subscribers` subscribers of
// the one topic, connected and subscribed before the first publish.
struct MessageScenario {
  std::string name;
  mqtt::QoS qos = mqtt::QoS::at_most_once;
  uint64_t messages = 0;
  size_t payload_size = 64;
  uint16_t window = 100;        // QoS 1 publishes in flight at most (PublishPlan::window)
  double rate = 0;              // publishes per second; 0: as fast as flow control allows
  bool resend_refused = false;  // QoS 1: send a publish refused with 0x97 again (PublishPlan)
  size_t subscribers = 1;
  // The subscribers' sessions outlive their connections (MQTT 5: clean start 0, session
  // expiry 3,600 s; 3.1.1: clean session 0), as a device's would; they stay connected.
  bool persistent = false;
  bool latencies = false;  // report publish-to-receipt percentiles
};

boost::json::object run_messages(const CommonOptions& common, const MessageScenario& scenario);

// idle: `connections` clients connect (CONNECT, CONNACK), from `sources` in turn, and hold
// their connections for `hold_seconds` doing nothing, then close.
struct IdleScenario {
  uint64_t connections = 0;
  std::vector<boost::asio::ip::address> sources;  // empty: the kernel's choice
  double hold_seconds = 10;
  uint16_t keep_alive = 300;  // must outlast the hold, or the broker may close the idle clients
  double connect_timeout_seconds = 20;  // per connection, TCP connect to CONNACK
};

// Prints a progress line ("phase": "holding") on stdout once every connect has ended, so that
// whoever runs the tool can read the broker's memory while the connections are held.
boost::json::object run_idle(const CommonOptions& common, const IdleScenario& scenario);

// Raises this process's open file limit to at least `needed` if it can (the hard limit too,
// with CAP_SYS_RESOURCE); returns the soft limit in force afterwards.
uint64_t raise_file_limit(uint64_t needed);

}  // namespace herald::bench
