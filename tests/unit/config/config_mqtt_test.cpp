// [mqtt] and [[device]]: defaults, every key, and each value refused with its location.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "config/config_test_support.h"

namespace herald {
namespace {

using namespace std::chrono_literals;

using config_testing::error_of;
using config_testing::parse;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(ConfigMqtt, WithoutTheTablesEverythingHasItsDefault) {
  const Config c = parse("");
  const MqttConfig& m = c.mqtt;
  EXPECT_FALSE(m.allow_anonymous);
  EXPECT_TRUE(m.anonymous_publish.empty());
  EXPECT_TRUE(m.anonymous_subscribe.empty());
  EXPECT_TRUE(m.deny.empty());
  EXPECT_EQ(m.max_keepalive, 300s);
  EXPECT_EQ(m.max_session_expiry, 168h);
  EXPECT_EQ(m.connect_timeout, 10s);
  EXPECT_EQ(m.receive_maximum, 100u);
  EXPECT_EQ(m.max_in_flight, 100u);
  EXPECT_EQ(m.max_packet_size, 1048576u);
  EXPECT_EQ(m.topic_alias_maximum, 16u);
  EXPECT_EQ(m.max_client_id_length, 256u);
  EXPECT_EQ(m.max_topic_length, 1024u);
  EXPECT_EQ(m.max_topic_levels, 32u);
  EXPECT_EQ(m.max_subscriptions, 100u);
  EXPECT_EQ(m.max_queued_messages, 1000u);
  EXPECT_EQ(m.max_queued_bytes, 16777216u);
  EXPECT_EQ(m.queue_full, QueueFullAction::refuse);
  EXPECT_FALSE(m.dead_letter_events);
  EXPECT_EQ(m.max_connections, 100000u);
  EXPECT_EQ(m.max_connections_per_ip, 1000u);
  EXPECT_TRUE(c.devices.empty());
}

TEST(ConfigMqtt, EveryKeyIsRead) {
  const MqttConfig m = parse(R"(
[mqtt]
allow_anonymous = true
anonymous_publish = ["public/#"]
anonymous_subscribe = ["public/#", "status/+"]
deny = ["test/nosubscribe"]
max_keepalive = "1m"
max_session_expiry = "2d"
connect_timeout = 5
receive_maximum = 20
max_in_flight = 30
max_packet_size = 4096
topic_alias_maximum = 0
max_client_id_length = 23
max_topic_length = 200
max_topic_levels = 8
max_subscriptions = 10
max_queued_messages = 50
max_queued_bytes = 65536
queue_full = "dead-letter"
dead_letter_events = true
max_connections = 500
max_connections_per_ip = 5
)")
                           .mqtt;
  EXPECT_TRUE(m.allow_anonymous);
  EXPECT_EQ(m.anonymous_publish, std::vector<std::string>{"public/#"});
  EXPECT_EQ(m.anonymous_subscribe, (std::vector<std::string>{"public/#", "status/+"}));
  EXPECT_EQ(m.deny, std::vector<std::string>{"test/nosubscribe"});
  EXPECT_EQ(m.max_keepalive, 60s);
  EXPECT_EQ(m.max_session_expiry, 48h);
  EXPECT_EQ(m.connect_timeout, 5s);
  EXPECT_EQ(m.receive_maximum, 20u);
  EXPECT_EQ(m.max_in_flight, 30u);
  EXPECT_EQ(m.max_packet_size, 4096u);
  EXPECT_EQ(m.topic_alias_maximum, 0u);
  EXPECT_EQ(m.max_client_id_length, 23u);
  EXPECT_EQ(m.max_topic_length, 200u);
  EXPECT_EQ(m.max_topic_levels, 8u);
  EXPECT_EQ(m.max_subscriptions, 10u);
  EXPECT_EQ(m.max_queued_messages, 50u);
  EXPECT_EQ(m.max_queued_bytes, 65536u);
  EXPECT_EQ(m.queue_full, QueueFullAction::dead_letter);
  EXPECT_TRUE(m.dead_letter_events);
  EXPECT_EQ(m.max_connections, 500u);
  EXPECT_EQ(m.max_connections_per_ip, 5u);
}

TEST(ConfigMqtt, QueueFullRefuseIsReadToo) {
  EXPECT_EQ(parse("[mqtt]\nqueue_full = \"refuse\"\n").mqtt.queue_full, QueueFullAction::refuse);
}

TEST(ConfigMqtt, TheIssueExampleParsesWithItsMqttListener) {
  const Config c = parse(R"(
[[listen]]
protocol = "mqtt"
address = "127.0.0.1:1883"

[mqtt]
allow_anonymous = true
anonymous_publish = ["#"]
anonymous_subscribe = ["#"]
deny = ["test/nosubscribe"]
max_keepalive = "60s"

[[device]]
username = "sensor-1"
password_hash = "$6$…"
publish = ["home/sensor-1/#"]
subscribe = ["home/sensor-1/#"]
)");
  ASSERT_EQ(c.listen.size(), 2u);
  EXPECT_EQ(c.listen[1].protocol, ListenProtocol::mqtt);
  EXPECT_EQ(c.listen[1].port, 1883);
  EXPECT_TRUE(c.mqtt.allow_anonymous);
  EXPECT_EQ(c.mqtt.anonymous_publish, std::vector<std::string>{"#"});
  EXPECT_EQ(c.mqtt.max_keepalive, 60s);
  ASSERT_EQ(c.devices.size(), 1u);
  EXPECT_EQ(c.devices[0].username, "sensor-1");
  EXPECT_EQ(c.devices[0].password_hash, "$6$…");
  EXPECT_EQ(c.devices[0].publish, std::vector<std::string>{"home/sensor-1/#"});
  EXPECT_EQ(c.devices[0].subscribe, std::vector<std::string>{"home/sensor-1/#"});
}

TEST(ConfigMqtt, DevicesKeepFileOrderAndTheirNamesAsWritten) {
  const Config c = parse(R"(
[[device]]
username = "Sensor-1"
password_hash = "$y$a"
[[device]]
username = "sensor-1"
password_hash = "$y$b"
publish = []
[[device]]
username = "température-ü"
password_hash = "$y$c"
subscribe = ["a/+", "b/#"]
)");
  ASSERT_EQ(c.devices.size(), 3u);
  EXPECT_EQ(c.devices[0].username, "Sensor-1");
  EXPECT_EQ(c.devices[1].username, "sensor-1");
  EXPECT_TRUE(c.devices[1].publish.empty());
  EXPECT_TRUE(c.devices[1].subscribe.empty());
  EXPECT_EQ(c.devices[2].username, "température-ü");
  EXPECT_EQ(c.devices[2].subscribe, (std::vector<std::string>{"a/+", "b/#"}));
}

TEST(ConfigMqtt, AnUnknownKeyInEitherTableIsAnErrorWithItsLocation) {
  std::string e = error_of("[mqtt]\nallow_anonymus = true\n");
  EXPECT_TRUE(contains(e, "herald.toml:10:")) << e;
  EXPECT_TRUE(contains(e, "unknown key 'allow_anonymus' in [mqtt]")) << e;
  // Reported as unknown, not as 'password_hash' missing.
  e = error_of("[[device]]\nusername = \"d\"\npasword_hash = \"$y$x\"\n");
  EXPECT_TRUE(contains(e, "herald.toml:11:")) << e;
  EXPECT_TRUE(contains(e, "unknown key 'pasword_hash' in [[device]]")) << e;
}

// Each bound in the error names the key, its line, and the range (from MqttConfig's rules).
struct OutOfRange {
  const char* line;
  const char* message;
};

TEST(ConfigMqtt, ValuesOutsideTheirRangesAreRefusedWithTheRange) {
  const OutOfRange cases[] = {
      {"max_keepalive = \"0s\"", "'max_keepalive' in [mqtt] must be from 1s to 65535s"},
      {"max_keepalive = \"65536s\"", "'max_keepalive' in [mqtt] must be from 1s to 65535s"},
      {"max_session_expiry = 4294967296",
       "'max_session_expiry' in [mqtt] must be from 0s to 4294967295s"},
      {"connect_timeout = 0", "'connect_timeout' in [mqtt] must be at least 1s"},
      {"receive_maximum = 0", "'receive_maximum' in [mqtt] must be a whole number from 1 to 65535"},
      {"receive_maximum = 65536",
       "'receive_maximum' in [mqtt] must be a whole number from 1 to 65535"},
      {"max_in_flight = 0", "'max_in_flight' in [mqtt] must be a whole number from 1 to 65535"},
      {"max_in_flight = 70000", "'max_in_flight' in [mqtt] must be a whole number from 1 to 65535"},
      {"max_packet_size = 63",
       "'max_packet_size' in [mqtt] must be a whole number from 64 to 268435460"},
      {"max_packet_size = 268435461",
       "'max_packet_size' in [mqtt] must be a whole number from 64 to 268435460"},
      {"topic_alias_maximum = 65536",
       "'topic_alias_maximum' in [mqtt] must be a whole number from 0 to 65535"},
      {"topic_alias_maximum = -1",
       "'topic_alias_maximum' in [mqtt] must be a whole number from 0 to 65535"},
      {"max_client_id_length = 22",
       "'max_client_id_length' in [mqtt] must be a whole number from 23 to 65535"},
      {"max_topic_length = 0",
       "'max_topic_length' in [mqtt] must be a whole number from 1 to 65535"},
      {"max_topic_length = 65536",
       "'max_topic_length' in [mqtt] must be a whole number from 1 to 65535"},
      {"max_topic_levels = 0",
       "'max_topic_levels' in [mqtt] must be a whole number from 1 to 1024"},
      {"max_topic_levels = 1025",
       "'max_topic_levels' in [mqtt] must be a whole number from 1 to 1024"},
      {"max_subscriptions = 0", "'max_subscriptions' in [mqtt] must be a whole number from 1"},
      {"max_queued_messages = 0", "'max_queued_messages' in [mqtt] must be a whole number from 1"},
      {"max_queued_bytes = 0", "'max_queued_bytes' in [mqtt] must be a whole number from 1"},
      {"max_connections = 0", "'max_connections' in [mqtt] must be a whole number from 1"},
      {"max_connections_per_ip = 0",
       "'max_connections_per_ip' in [mqtt] must be a whole number from 1"},
  };
  for (const OutOfRange& c : cases) {
    const std::string e = error_of(std::string("[mqtt]\n") + c.line + "\n");
    EXPECT_TRUE(contains(e, std::string("herald.toml:10:")) && contains(e, c.message))
        << c.line << ": " << e;
  }
}

TEST(ConfigMqtt, TheEdgesOfEachRangeAreAccepted) {
  const MqttConfig m = parse(R"(
[mqtt]
max_keepalive = "65535s"
max_session_expiry = 4294967295
connect_timeout = "1s"
receive_maximum = 65535
max_in_flight = 1
max_packet_size = 64
topic_alias_maximum = 65535
max_client_id_length = 65535
max_topic_length = 65535
max_topic_levels = 1024
)")
                           .mqtt;
  EXPECT_EQ(m.max_keepalive, 65535s);
  EXPECT_EQ(m.max_session_expiry, std::chrono::seconds(4294967295));
  EXPECT_EQ(m.connect_timeout, 1s);
  EXPECT_EQ(m.receive_maximum, 65535u);
  EXPECT_EQ(m.max_in_flight, 1u);
  EXPECT_EQ(m.max_packet_size, 64u);
  EXPECT_EQ(m.topic_alias_maximum, 65535u);
  EXPECT_EQ(m.max_client_id_length, 65535u);
  EXPECT_EQ(m.max_topic_length, 65535u);
  EXPECT_EQ(m.max_topic_levels, 1024u);
  EXPECT_EQ(parse("[mqtt]\nmax_session_expiry = 0\n").mqtt.max_session_expiry, 0s);
}

TEST(ConfigMqtt, ValuesOfTheWrongTypeAreRefused) {
  EXPECT_TRUE(contains(error_of("[mqtt]\nallow_anonymous = \"yes\"\n"),
                       "'allow_anonymous' in [mqtt] must be true or false"));
  EXPECT_TRUE(contains(error_of("[mqtt]\ndead_letter_events = \"no\"\n"),
                       "'dead_letter_events' in [mqtt] must be true or false"));
  EXPECT_TRUE(contains(error_of("[mqtt]\ndeny = \"a/b\"\n"),
                       "'deny' in [mqtt] must be an array of strings"));
  EXPECT_TRUE(contains(error_of("[mqtt]\nanonymous_publish = [1]\n"),
                       "'anonymous_publish' in [mqtt] must be an array of strings"));
  EXPECT_TRUE(contains(error_of("[mqtt]\nmax_keepalive = \"soon\"\n"), "'max_keepalive'"));
  EXPECT_TRUE(contains(error_of("[mqtt]\nqueue_full = \"drop\"\n"),
                       "'queue_full' in [mqtt] must be \"refuse\" or \"dead-letter\""));
  EXPECT_TRUE(contains(error_of("[[device]]\nusername = \"d\"\npassword_hash = \"$y$x\"\n"
                                "publish = \"a/#\"\n"),
                       "'publish' in [[device]] must be an array of strings"));
  EXPECT_TRUE(
      contains(error_of("[device]\nusername = \"d\"\n"), "'device' must be written [[device]]"));
}

TEST(ConfigMqtt, MqttThatIsNotATableIsAnError) {
  std::string e;
  try {
    parse_config(std::string("mqtt = 3\n") + config_testing::kMinimal, "/etc/herald/herald.toml");
  } catch (const ConfigError& error) {
    e = error.what();
  }
  EXPECT_TRUE(contains(e, "herald.toml:1:8: [mqtt] must be a table")) << e;
}

TEST(ConfigMqtt, ADeviceNeedsANonEmptyValidUsername) {
  std::string e = error_of("[[device]]\npassword_hash = \"$y$x\"\n");
  EXPECT_TRUE(contains(e, "herald.toml:9:1: [[device]] needs 'username'")) << e;
  e = error_of("[[device]]\nusername = \"\"\npassword_hash = \"$y$x\"\n");
  EXPECT_TRUE(contains(e, "herald.toml:9:1: [[device]] 'username' must not be empty")) << e;
  // TOML strings may hold U+0000 as an escape; MQTT strings may not (MQTT 5 1.5.4).
  e = error_of("[[device]]\nusername = \"a\\u0000b\"\npassword_hash = \"$y$x\"\n");
  EXPECT_TRUE(contains(e,
                       "herald.toml:9:1: [[device]] 'username' must be valid UTF-8 without "
                       "U+0000"))
      << e;
  e = error_of("[[device]]\nusername = \"" + std::string(65536, 'd') +
               "\"\npassword_hash = \"$y$x\"\n");
  EXPECT_TRUE(contains(e, "[[device]] 'username' is longer than 65535 bytes")) << e;
  EXPECT_EQ(parse("[[device]]\nusername = \"" + std::string(65535, 'd') +
                  "\"\npassword_hash = \"$y$x\"\n")
                .devices.at(0)
                .username.size(),
            65535u);
}

TEST(ConfigMqtt, ADeviceNeedsAPasswordHash) {
  std::string e = error_of("[[device]]\nusername = \"sensor-1\"\n");
  EXPECT_TRUE(contains(e,
                       "herald.toml:9:1: [[device]] sensor-1 needs a non-empty "
                       "'password_hash'"))
      << e;
  e = error_of("[[device]]\nusername = \"sensor-1\"\npassword_hash = \"\"\n");
  EXPECT_TRUE(contains(e, "[[device]] sensor-1 needs a non-empty 'password_hash'")) << e;
}

TEST(ConfigMqtt, AUsernameDeclaredTwiceIsAnErrorAtTheSecondEntry) {
  const std::string e = error_of(R"([[device]]
username = "sensor-1"
password_hash = "$y$a"
[[device]]
username = "sensor-1"
password_hash = "$y$b"
)");
  EXPECT_TRUE(contains(e, "herald.toml:12:1: [[device]] sensor-1 is declared twice")) << e;
}

TEST(ConfigMqtt, TopicFiltersAreKeptAsWrittenForTheAccessPolicyToCheck) {
  // src/config cannot see mqtt/topic.h; mqtt::AccessPolicy refuses these.
  const Config c = parse(
      "[mqtt]\ndeny = [\"a/#/b\"]\n[[device]]\nusername = \"d\"\n"
      "password_hash = \"$y$x\"\npublish = [\"x+\"]\n");
  EXPECT_EQ(c.mqtt.deny, std::vector<std::string>{"a/#/b"});
  EXPECT_EQ(c.devices.at(0).publish, std::vector<std::string>{"x+"});
}

}  // namespace
}  // namespace herald
