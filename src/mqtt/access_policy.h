// Who may connect and where each client may publish and subscribe (docs/configuration.md,
// "[mqtt]" and "[[device]]"): [[device]] entries log in with a username and a crypt(3)
// password, anonymous clients only when [mqtt] allow_anonymous, and [mqtt] deny filters hold
// for everybody. Built once from the configuration; immutable afterwards.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/config.h"

namespace herald::mqtt {

// What one authenticated (or anonymous) client may do. Immutable; shared by all the
// connections of one device (one per device, one for anonymous), thread-safe.
class Grant {
 public:
  // Filters as AccessPolicy checked them: valid (mqtt/topic.h), none a shared subscription.
  Grant(std::string username, std::vector<std::string> publish, std::vector<std::string> subscribe,
        std::vector<std::string> deny);

  const std::string& username() const;  // empty: anonymous

  // A PUBLISH to `topic` (a valid topic name): inside one of the publish filters and no deny
  // filter matches it. False: PUBACK/PUBREC 0x87 Not authorized (MQTT 5 3.4.2.1).
  bool may_publish(std::string_view topic) const;

  // A SUBSCRIBE to `filter` (a valid filter; "$share/GROUP/F" is checked as F): F lies wholly
  // inside one of the subscribe filters (every topic F matches, that filter matches too) and
  // is not wholly inside a deny filter. False: a failure in the SUBACK (issue 9 names 0x80).
  bool may_subscribe(std::string_view filter) const;

  // A message on `topic` (a valid topic name) going to this client through one of its
  // subscriptions: inside one of the subscribe filters and no deny filter matches it. A
  // subscription may_subscribe allowed can still overlap a deny filter ("#" beside a denied
  // "test/nosubscribe"); this keeps the denied part from reaching the client.
  bool may_receive(std::string_view topic) const;

 private:
  std::string username_;
  std::vector<std::string> publish_;
  std::vector<std::string> subscribe_;
  std::vector<std::string> deny_;
};

enum class LoginRefusal {
  bad_credentials,  // CONNACK 0x86 (MQTT 5), 0x04 (MQTT 3.1.1)
  not_authorized,   // CONNACK 0x87 (MQTT 5), 0x05 (MQTT 3.1.1)
};

using LoginResult = std::variant<std::shared_ptr<const Grant>, LoginRefusal>;

class AccessPolicy {
 public:
  // Checks a password against a crypt(3) hash; must be thread-safe. Default:
  // directory/password_hash.h's password_matches (tests pass a fast fake).
  using PasswordCheck = std::function<bool(std::string_view hash, std::string_view password)>;

  // `devices` as load_config validated them (distinct non-empty usernames, non-empty
  // hashes). Throws ConfigError naming the entry ("[[device]] sensor-1: publish filter
  // 'a/#/b' is not a valid topic filter: …") when a filter is not valid or is a shared
  // subscription ("$share/…"). Makes one dummy hash (one crypt(3) run, like the directory's)
  // for logins that name no device: construct it off the io threads too.
  AccessPolicy(const MqttConfig& mqtt, const std::vector<DeviceConfig>& devices,
               PasswordCheck check = {});

  // The grant of the client whose CONNECT carried `username` and `password`, or why it is
  // refused:
  // - no username: the anonymous grant when allow_anonymous, else not_authorized; with a
  //   password all the same, bad_credentials (MQTT 3.1.1 3.1.2.9 forbids it; MQTT 5 allows
  //   it, but herald has no use for a password that names nobody);
  // - a username naming a device and its password: that device's grant;
  // - a wrong or missing password, or a username naming no device: bad_credentials, after
  //   the same crypt(3) work as a real check, so that timing does not tell who exists;
  // - but with no [[device]] at all and allow_anonymous, any username is anonymous (as
  //   Mosquitto's defaults have it).
  // Thread-safe. Slow when it checks a password (crypt(3)): call off the io threads.
  LoginResult login(std::optional<std::string_view> username,
                    std::optional<std::string_view> password) const;

 private:
  struct Device {
    std::string password_hash;
    std::shared_ptr<const Grant> grant;
  };

  LoginResult refuse_after_dummy_check(std::string_view password) const;

  PasswordCheck check_;
  std::string dummy_hash_;                  // the first device's scheme and cost; matches nothing
  std::shared_ptr<const Grant> anonymous_;  // null unless allow_anonymous
  std::map<std::string, Device, std::less<>> devices_;
};

// Is every topic that `inner` matches also matched by `outer`? Both valid filters, neither a
// shared subscription (pass SharedFilter::filter). Respects the '$' rule of MQTT 5 4.7.2: a
// filter beginning with a wildcard matches no topic beginning with '$', so "#" does not cover
// "$SYS/x". MQTT 5 4.7.1.2: "a/#" matches "a", so it covers "a". Pure, thread-safe.
bool filter_covers(std::string_view outer, std::string_view inner);

}  // namespace herald::mqtt
