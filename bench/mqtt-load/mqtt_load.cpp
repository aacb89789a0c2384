// herald_mqtt_load: a broker-agnostic MQTT 5 / 3.1.1 load generator for the side-by-side
// benchmark (bench/mqtt/run, bench/README.md). Each scenario prints one JSON line with its
// results on stdout (idle also a progress line first) and exits 0 when it ran to the end, 1
// when something failed (the line then has "error"), 2 on a usage error.
//
//   herald_mqtt_load --port P throughput --qos 0|1 --messages N --size 64
//   herald_mqtt_load --port P persistent --messages N
//   herald_mqtt_load --port P latency --qos 0|1 --messages N --rate R
//   herald_mqtt_load --port P fanout --subscribers 1000 --messages N
//   herald_mqtt_load --port P idle --connections 100000 --sources 127.0.0.2,127.0.0.3
#include <CLI/CLI.hpp>
#include <boost/json/serialize.hpp>
#include <iostream>

#include "load_client.h"
#include "pubsub.h"
#include "scenarios.h"

namespace {

using herald::bench::CommonOptions;
using herald::bench::IdleScenario;
using herald::bench::MessageScenario;
namespace mqtt = herald::mqtt;

void add_message_options(CLI::App* command, MessageScenario& scenario, int& qos) {
  command->add_option("--messages", scenario.messages, "messages to publish")->required();
  command->add_option("--size", scenario.payload_size, "payload bytes (at least 16)")
      ->check(CLI::Range(size_t{herald::bench::kMinPayloadSize}, size_t{65536}))
      ->capture_default_str();
  command
      ->add_option("--window", scenario.window,
                   "QoS 1 publishes in flight at most (the broker's Receive Maximum lowers it)")
      ->check(CLI::Range(1, 32768))
      ->capture_default_str();
  command->add_flag("--resend-refused", scenario.resend_refused,
                    "QoS 1: send a publish refused with 0x97 (quota exceeded) again after 1 ms");
  if (qos >= 0) {
    command->add_option("--qos", qos, "0 or 1")->check(CLI::Range(0, 1))->capture_default_str();
  }
}

std::vector<boost::asio::ip::address> parse_sources(const std::vector<std::string>& texts) {
  std::vector<boost::asio::ip::address> sources;
  for (const std::string& text : texts) sources.push_back(boost::asio::ip::make_address(text));
  return sources;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"MQTT load generator for herald's side-by-side benchmark (bench/README.md)"};
  app.require_subcommand(1);
  CommonOptions common;
  std::string protocol = "5";
  app.add_option("--host", common.host, "broker address (loopback)")->capture_default_str();
  app.add_option("--port", common.port, "broker port")->required();
  app.add_option("--protocol", protocol, "MQTT version: 5 or 3.1.1")
      ->check(CLI::IsMember({"5", "3.1.1"}))
      ->capture_default_str();
  app.add_option("--topic", common.topic, "topic of the message scenarios (default bench/PID)");
  app.add_option("--timeout", common.timeout_seconds, "seconds a message scenario may take in all")
      ->capture_default_str();
  app.add_option("--quiet", common.quiet_seconds,
                 "seconds without a message, after the last publish, that end a run")
      ->capture_default_str();
  app.add_option("--connect-concurrency", common.connect_concurrency,
                 "connects in progress at once, at most")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();

  MessageScenario throughput{.name = "throughput"};
  int throughput_qos = 0;
  add_message_options(app.add_subcommand("throughput", "1 publisher → 1 subscriber, open loop"),
                      throughput, throughput_qos);

  MessageScenario persistent{
      .name = "persistent", .qos = mqtt::QoS::at_least_once, .persistent = true};
  int no_qos = -1;
  add_message_options(
      app.add_subcommand("persistent", "QoS 1 to a subscriber with a persistent session"),
      persistent, no_qos);

  MessageScenario latency{.name = "latency", .rate = 1000, .latencies = true};
  int latency_qos = 0;
  CLI::App* latency_command =
      app.add_subcommand("latency", "paced publishes; publish-to-receipt percentiles");
  add_message_options(latency_command, latency, latency_qos);
  latency_command->add_option("--rate", latency.rate, "publishes per second")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  MessageScenario fanout{.name = "fanout", .qos = mqtt::QoS::at_least_once, .subscribers = 1000};
  int fanout_qos = 1;
  CLI::App* fanout_command =
      app.add_subcommand("fanout", "1 publisher → many subscribers of one topic");
  add_message_options(fanout_command, fanout, fanout_qos);
  fanout_command->add_option("--subscribers", fanout.subscribers)
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();

  IdleScenario idle;
  std::vector<std::string> sources;
  CLI::App* idle_command = app.add_subcommand("idle", "many idle connections, held, then closed");
  idle_command->add_option("--connections", idle.connections)->required();
  idle_command->add_option("--sources", sources, "source addresses, in turn (127.0.0.x)")
      ->delimiter(',');
  idle_command->add_option("--hold", idle.hold_seconds, "seconds to hold them")
      ->capture_default_str();
  idle_command->add_option("--keep-alive", idle.keep_alive, "CONNECT keep alive, seconds")
      ->capture_default_str();
  idle_command
      ->add_option("--connect-timeout", idle.connect_timeout_seconds,
                   "seconds from TCP connect to CONNACK, per connection")
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  common.version = protocol == "5" ? mqtt::ProtocolVersion::v5 : mqtt::ProtocolVersion::v3_1_1;
  if (idle.hold_seconds >= idle.keep_alive) {
    std::cerr << "--hold must be shorter than --keep-alive: idle clients send nothing\n";
    return 2;
  }
  const auto qos_of = [](int value) { return static_cast<mqtt::QoS>(value); };
  throughput.qos = qos_of(throughput_qos);
  latency.qos = qos_of(latency_qos);
  fanout.qos = qos_of(fanout_qos);

  boost::json::object result;
  try {
    CLI::App* chosen = app.get_subcommands().front();
    const std::string name = chosen->get_name();
    if (name == "idle") {
      idle.sources = parse_sources(sources);
      result = herald::bench::run_idle(common, idle);
    } else {
      MessageScenario& scenario = name == "throughput"   ? throughput
                                  : name == "persistent" ? persistent
                                  : name == "latency"    ? latency
                                                         : fanout;
      herald::bench::raise_file_limit(scenario.subscribers + 100);
      result = herald::bench::run_messages(common, scenario);
    }
  } catch (const std::exception& error) {
    result["error"] = herald::bench::error_text(error);
  }
  std::cout << boost::json::serialize(result) << std::endl;
  return result.contains("error") ? 1 : 0;
}
