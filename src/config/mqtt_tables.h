// Reading [mqtt] and the [[device]] entries (docs/configuration.md, "[mqtt]"): every key of
// MqttConfig and DeviceConfig, each value checked where it is written so that an error names
// its line. Topic filters are kept as written: their syntax is mqtt/topic.h's (a later layer),
// and mqtt/access_policy.h refuses a bad one when heraldd builds its policy. Used by
// config.cpp only.
#pragma once

#include <filesystem>
#include <vector>

#include "config/toml_table_reader.h"

namespace herald::config_reading {

// The [mqtt] table of `root`, or the defaults when it is absent. Throws ConfigError.
MqttConfig read_mqtt(const toml::table& root, const std::filesystem::path& origin);

// Every [[device]] of `root` in file order: usernames non-empty, distinct, valid MQTT UTF-8
// strings; password hashes non-empty. Throws ConfigError.
std::vector<DeviceConfig> read_devices(const toml::table& root,
                                       const std::filesystem::path& origin);

}  // namespace herald::config_reading
