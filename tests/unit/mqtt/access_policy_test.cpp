// Who may log in and where a client may publish and subscribe (mqtt/access_policy.h).
#include "mqtt/access_policy.h"

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "directory/password_hash.h"
#include "mqtt/topic.h"

namespace herald::mqtt {
namespace {

// --- filter_covers ---------------------------------------------------------------------

struct Cover {
  const char* outer;
  const char* inner;
  bool covers;
};

TEST(FilterCovers, TableOfCases) {
  const Cover cases[] = {
      // Equal filters cover each other.
      {"a/b", "a/b", true},
      {"a/+", "a/+", true},
      {"a/#", "a/#", true},
      {"#", "#", true},
      {"+", "+", true},
      {"$SYS/#", "$SYS/#", true},
      // '#' covers everything below it, and (MQTT 5 4.7.1.2) its parent level.
      {"#", "a", true},
      {"#", "a/b/c", true},
      {"#", "+", true},
      {"#", "+/+/#", true},
      {"#", "/", true},
      {"a/#", "a", true},
      {"a/#", "a/b", true},
      {"a/#", "a/+", true},
      {"a/#", "a/+/c/#", true},
      {"a/#", "b", false},
      {"a/#", "#", false},
      {"a/#", "+", false},
      {"a/b/#", "a/b", true},
      {"a/b/#", "a", false},
      {"a/b/#", "a/#", false},
      {"/#", "/", true},
      {"/+/#", "/#", true},  // "/#" does not match "", which is no topic
      {"+/+/#", "/#", true},
      {"/+/#", "/+/#", true},
      {"+/+", "/#", false},
      // '+' is one level, whatever it holds.
      {"a/+", "a/b", true},
      {"a/+", "a/#", false},
      {"a/+", "a", false},
      {"a/+", "a/b/c", false},
      {"+/x", "a/+", false},
      {"a/+", "+/x", false},
      {"+/+", "a/+", true},
      {"+/+", "+/x", true},
      {"+/+", "/", true},
      {"+", "#", false},
      {"+/#", "#", true},  // both miss '$' topics; "+/#" matches "x" as "#" does
      {"+/+/#", "#", false},
      {"+/#", "+", true},
      {"a", "a/b", false},
      {"a/b", "a", false},
      {"a", "+", false},
      {"a", "A", false},
      // MQTT 5 4.7.2: a leading wildcard matches no topic beginning with '$'.
      {"#", "$SYS/x", false},
      {"#", "$SYS/#", false},
      {"#", "$SYS", false},
      {"+", "$SYS", false},
      {"+/x", "$SYS/x", false},
      {"+/#", "$SYS/x", false},
      {"$SYS/#", "$SYS/broker/load", true},
      {"$SYS/+", "$SYS/uptime", true},
      {"$SYS/#", "#", false},
      {"$SYS/#", "+/#", false},
      {"#", "a/$x", true},  // only the first level is special
      {"+/$x", "a/$x", true},
  };
  for (const Cover& c : cases) {
    EXPECT_EQ(filter_covers(c.outer, c.inner), c.covers)
        << "'" << c.outer << "' covers '" << c.inner << "'";
  }
}

// Every filter and topic of up to `max_levels` levels over `alphabet`.
std::vector<std::string> joined(const std::vector<std::string>& alphabet, size_t max_levels) {
  std::vector<std::string> out;
  std::vector<std::string> previous{""};
  for (size_t levels = 1; levels <= max_levels; ++levels) {
    std::vector<std::string> next;
    for (const std::string& prefix : previous) {
      for (const std::string& level : alphabet) {
        next.push_back(levels == 1 ? level : prefix + "/" + level);
      }
    }
    out.insert(out.end(), next.begin(), next.end());
    previous = std::move(next);
  }
  return out;
}

// filter_covers against its definition: inner ⊆ outer over topics (topic_matches). The
// topics use every literal of the filters plus values no filter names ("z", "$z"), and one
// level more than the longest filter, so every way a filter can match is represented.
TEST(FilterCovers, AgreesWithTopicMatchingOverEveryGeneratedTopic) {
  std::vector<std::string> filters;
  for (const std::string& f : joined({"a", "b", "$s", "", "+", "#"}, 3)) {
    if (check_topic_filter(f, TopicLimits{}) == TopicError::none) filters.push_back(f);
  }
  std::vector<std::string> topics;
  for (const std::string& t : joined({"a", "b", "z", "$s", "$z", ""}, 4)) {
    if (check_topic_name(t, TopicLimits{}) == TopicError::none) topics.push_back(t);
  }
  ASSERT_GT(filters.size(), 100u);
  ASSERT_GT(topics.size(), 1000u);
  std::vector<std::vector<bool>> matches(filters.size(), std::vector<bool>(topics.size()));
  for (size_t f = 0; f < filters.size(); ++f) {
    for (size_t t = 0; t < topics.size(); ++t) matches[f][t] = topic_matches(topics[t], filters[f]);
  }
  size_t covered_pairs = 0;
  for (size_t outer = 0; outer < filters.size(); ++outer) {
    for (size_t inner = 0; inner < filters.size(); ++inner) {
      bool subset = true;
      for (size_t t = 0; t < topics.size() && subset; ++t) {
        subset = !matches[inner][t] || matches[outer][t];
      }
      covered_pairs += subset;
      ASSERT_EQ(filter_covers(filters[outer], filters[inner]), subset)
          << "'" << filters[outer] << "' covers '" << filters[inner] << "'";
    }
  }
  // Neither everything nor nothing: the generated cases exercise both answers.
  EXPECT_GT(covered_pairs, filters.size());
  EXPECT_LT(covered_pairs, filters.size() * filters.size() / 2);
}

// --- Grant -------------------------------------------------------------------------------

TEST(Grant, PublishesInsideAPublishFilterUnlessDenied) {
  const Grant grant("sensor-1", {"home/sensor-1/#", "status/+"}, {}, {"home/sensor-1/secret"});
  EXPECT_EQ(grant.username(), "sensor-1");
  EXPECT_TRUE(grant.may_publish("home/sensor-1"));
  EXPECT_TRUE(grant.may_publish("home/sensor-1/temperature"));
  EXPECT_TRUE(grant.may_publish("status/sensor-1"));
  EXPECT_FALSE(grant.may_publish("status/sensor-1/extra"));
  EXPECT_FALSE(grant.may_publish("home/sensor-2/temperature"));
  EXPECT_FALSE(grant.may_publish("home/sensor-1/secret"));
}

TEST(Grant, NoPublishFiltersMeansNoPublishing) {
  const Grant grant("d", {}, {"#"}, {});
  EXPECT_FALSE(grant.may_publish("a"));
  EXPECT_TRUE(grant.may_subscribe("a"));
}

TEST(Grant, SubscribesOnlyToFiltersWhollyInsideASubscribeFilter) {
  const Grant grant("d", {}, {"home/+/temperature", "cmd/d/#"}, {});
  EXPECT_TRUE(grant.may_subscribe("home/kitchen/temperature"));
  EXPECT_TRUE(grant.may_subscribe("home/+/temperature"));
  EXPECT_TRUE(grant.may_subscribe("cmd/d"));
  EXPECT_TRUE(grant.may_subscribe("cmd/d/#"));
  EXPECT_TRUE(grant.may_subscribe("cmd/d/+/x"));
  // Overlapping is not enough: these also match topics outside the grant.
  EXPECT_FALSE(grant.may_subscribe("home/#"));
  EXPECT_FALSE(grant.may_subscribe("home/kitchen/+"));
  EXPECT_FALSE(grant.may_subscribe("cmd/+/#"));
  EXPECT_FALSE(grant.may_subscribe("#"));
}

TEST(Grant, ASharedSubscriptionIsCheckedAsItsFilter) {
  const Grant grant("d", {}, {"jobs/#"}, {"jobs/secret"});
  EXPECT_TRUE(grant.may_subscribe("$share/workers/jobs/+"));
  EXPECT_FALSE(grant.may_subscribe("$share/workers/other/+"));
  EXPECT_FALSE(grant.may_subscribe("$share/workers/jobs/secret"));
  // Group "jobs", filter "#": the group is not part of the filter checked.
  EXPECT_FALSE(grant.may_subscribe("$share/jobs/#"));
}

TEST(Grant, ADenyFilterRefusesWhatLiesWhollyInsideItAndHoldsBackTheRestOnDelivery) {
  // The issue's example: anonymous clients get "#", except test/nosubscribe.
  const Grant grant("", {"#"}, {"#"}, {"test/nosubscribe"});
  EXPECT_EQ(grant.username(), "");
  EXPECT_FALSE(grant.may_subscribe("test/nosubscribe"));
  EXPECT_FALSE(grant.may_subscribe("$share/g/test/nosubscribe"));
  EXPECT_FALSE(grant.may_publish("test/nosubscribe"));
  EXPECT_TRUE(grant.may_publish("test/other"));
  // "#" and "test/+" overlap the denied topic without lying inside it: allowed, and the
  // denied topic is kept from the subscriber when a message is delivered.
  EXPECT_TRUE(grant.may_subscribe("#"));
  EXPECT_TRUE(grant.may_subscribe("test/+"));
  EXPECT_TRUE(grant.may_receive("test/other"));
  EXPECT_FALSE(grant.may_receive("test/nosubscribe"));
}

TEST(Grant, AWildcardGrantDoesNotReachDollarTopics) {
  const Grant grant("", {"#"}, {"#", "+/status"}, {});
  EXPECT_FALSE(grant.may_publish("$SYS/broker/load"));
  EXPECT_FALSE(grant.may_subscribe("$SYS/#"));
  EXPECT_FALSE(grant.may_subscribe("$SYS/status"));
  EXPECT_FALSE(grant.may_receive("$SYS/status"));
  const Grant sys("monitor", {}, {"$SYS/#"}, {});
  EXPECT_TRUE(sys.may_subscribe("$SYS/broker/+"));
  EXPECT_TRUE(sys.may_receive("$SYS/broker/load"));
  EXPECT_FALSE(sys.may_subscribe("#"));
}

TEST(Grant, ADenyFilterWithWildcardsRefusesEverythingItCovers) {
  const Grant grant("", {"#"}, {"#"}, {"private/#"});
  EXPECT_FALSE(grant.may_publish("private"));
  EXPECT_FALSE(grant.may_publish("private/a/b"));
  EXPECT_FALSE(grant.may_subscribe("private/+"));
  EXPECT_FALSE(grant.may_subscribe("private"));
  EXPECT_TRUE(grant.may_subscribe("+"));  // overlaps "private", filtered on delivery
  EXPECT_FALSE(grant.may_receive("private"));
  EXPECT_TRUE(grant.may_receive("public"));
}

// --- AccessPolicy ---------------------------------------------------------------------

// A fast stand-in for crypt(3): a "hash" is "plain:" and the password. Records each check.
struct FakeCheck {
  std::shared_ptr<std::vector<std::string>> checked = std::make_shared<std::vector<std::string>>();
  std::shared_ptr<std::mutex> lock = std::make_shared<std::mutex>();
  bool operator()(std::string_view hash, std::string_view password) const {
    std::lock_guard<std::mutex> guard(*lock);
    checked->emplace_back(hash);
    return hash == "plain:" + std::string(password);
  }
};

DeviceConfig device(std::string username, std::string password, std::vector<std::string> publish,
                    std::vector<std::string> subscribe) {
  return DeviceConfig{std::move(username), "plain:" + std::move(password), std::move(publish),
                      std::move(subscribe)};
}

MqttConfig anonymous_allowed(bool allowed) {
  MqttConfig mqtt;
  mqtt.allow_anonymous = allowed;
  mqtt.anonymous_publish = {"public/#"};
  mqtt.anonymous_subscribe = {"public/#"};
  mqtt.deny = {"public/locked"};
  return mqtt;
}

std::shared_ptr<const Grant> granted(const LoginResult& result) {
  const auto* grant = std::get_if<std::shared_ptr<const Grant>>(&result);
  return grant ? *grant : nullptr;
}

std::optional<LoginRefusal> refusal(const LoginResult& result) {
  const auto* why = std::get_if<LoginRefusal>(&result);
  return why ? std::optional<LoginRefusal>(*why) : std::nullopt;
}

class AccessPolicyTest : public ::testing::Test {
 protected:
  AccessPolicy policy(bool allow_anonymous) const {
    return AccessPolicy(anonymous_allowed(allow_anonymous), devices_, check_);
  }

  FakeCheck check_;
  std::vector<DeviceConfig> devices_{
      device("sensor-1", "s3cret", {"home/sensor-1/#"}, {"home/sensor-1/#"}),
      device("sensor-2", "other", {"home/sensor-2/#"}, {"home/+/status"})};
};

TEST_F(AccessPolicyTest, ADeviceWithItsPasswordGetsItsGrantSharedByItsConnections) {
  const AccessPolicy p = policy(false);
  const auto first = granted(p.login("sensor-1", "s3cret"));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->username(), "sensor-1");
  EXPECT_TRUE(first->may_publish("home/sensor-1/temperature"));
  EXPECT_FALSE(first->may_publish("home/sensor-2/temperature"));
  EXPECT_EQ(granted(p.login("sensor-1", "s3cret")), first);
  const auto second = granted(p.login("sensor-2", "other"));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->username(), "sensor-2");
  EXPECT_TRUE(second->may_subscribe("home/sensor-1/status"));
  EXPECT_FALSE(second->may_subscribe("home/sensor-1/#"));
}

TEST_F(AccessPolicyTest, UsernamesAreCaseSensitive) {
  EXPECT_EQ(refusal(policy(false).login("Sensor-1", "s3cret")), LoginRefusal::bad_credentials);
}

TEST_F(AccessPolicyTest, WrongOrMissingPasswordAndUnknownUsernamesAreBadCredentials) {
  for (const bool anonymous : {false, true}) {
    const AccessPolicy p = policy(anonymous);
    EXPECT_EQ(refusal(p.login("sensor-1", "wrong")), LoginRefusal::bad_credentials);
    EXPECT_EQ(refusal(p.login("sensor-1", "")), LoginRefusal::bad_credentials);
    EXPECT_EQ(refusal(p.login("sensor-1", std::nullopt)), LoginRefusal::bad_credentials);
    EXPECT_EQ(refusal(p.login("sensor-1", "other")), LoginRefusal::bad_credentials);
    EXPECT_EQ(refusal(p.login("nobody", "s3cret")), LoginRefusal::bad_credentials);
    EXPECT_EQ(refusal(p.login("nobody", std::nullopt)), LoginRefusal::bad_credentials);
  }
}

TEST_F(AccessPolicyTest, UnknownUsernamesAndMissingPasswordsCostOneCheckOfADummyHash) {
  const AccessPolicy p = policy(false);
  check_.checked->clear();
  p.login("nobody", "s3cret");
  p.login("sensor-1", std::nullopt);
  p.login("nobody", std::nullopt);
  ASSERT_EQ(check_.checked->size(), 3u);
  for (const std::string& hash : *check_.checked) {
    EXPECT_NE(hash, "plain:s3cret");
    EXPECT_NE(hash, "plain:other");
    EXPECT_FALSE(hash.empty());
  }
  p.login("sensor-1", "wrong");
  ASSERT_EQ(check_.checked->size(), 4u);
  EXPECT_EQ(check_.checked->back(), "plain:s3cret");
}

TEST_F(AccessPolicyTest, NoUsernameIsAnonymousOnlyWhenAllowed) {
  EXPECT_EQ(refusal(policy(false).login(std::nullopt, std::nullopt)), LoginRefusal::not_authorized);
  const AccessPolicy p = policy(true);
  const auto anonymous = granted(p.login(std::nullopt, std::nullopt));
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->username(), "");
  EXPECT_TRUE(anonymous->may_publish("public/news"));
  EXPECT_FALSE(anonymous->may_publish("public/locked"));
  EXPECT_FALSE(anonymous->may_publish("home/sensor-1/temperature"));
  EXPECT_EQ(granted(p.login(std::nullopt, std::nullopt)), anonymous);
}

TEST_F(AccessPolicyTest, APasswordWithoutAUsernameIsBadCredentials) {
  EXPECT_EQ(refusal(policy(false).login(std::nullopt, "s3cret")), LoginRefusal::bad_credentials);
  EXPECT_EQ(refusal(policy(true).login(std::nullopt, "s3cret")), LoginRefusal::bad_credentials);
  EXPECT_EQ(refusal(policy(true).login(std::nullopt, "")), LoginRefusal::bad_credentials);
}

TEST(AccessPolicy, WithNoDevicesAndAnonymousAllowedAnyUsernameIsAnonymous) {
  FakeCheck check;
  const AccessPolicy p(anonymous_allowed(true), {}, check);
  for (const std::optional<std::string_view> password :
       {std::optional<std::string_view>(), std::optional<std::string_view>("whatever")}) {
    const auto grant = granted(p.login("someone", password));
    ASSERT_TRUE(grant);
    EXPECT_EQ(grant->username(), "");
    EXPECT_TRUE(grant->may_subscribe("public/+"));
  }
  EXPECT_TRUE(check.checked->empty());
}

TEST(AccessPolicy, WithNoDevicesAndNoAnonymousEveryUsernameIsBadCredentials) {
  FakeCheck check;
  const AccessPolicy p(anonymous_allowed(false), {}, check);
  EXPECT_EQ(refusal(p.login("someone", "pw")), LoginRefusal::bad_credentials);
  EXPECT_EQ(refusal(p.login(std::nullopt, std::nullopt)), LoginRefusal::not_authorized);
  EXPECT_EQ(check.checked->size(), 1u);
}

std::string construction_error(const MqttConfig& mqtt, const std::vector<DeviceConfig>& devices) {
  try {
    AccessPolicy policy(mqtt, devices, FakeCheck{});
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(AccessPolicy, AnInvalidFilterIsAConfigErrorNamingItsEntry) {
  const std::vector<DeviceConfig> bad_publish{device("sensor-1", "pw", {"ok/#", "a/#/b"}, {})};
  EXPECT_EQ(construction_error(MqttConfig{}, bad_publish),
            "[[device]] sensor-1: publish filter 'a/#/b' is not a valid topic filter: wildcard "
            "not alone in its topic level, or '#' not last");
  const std::vector<DeviceConfig> bad_subscribe{device("sensor-1", "pw", {}, {"a+"})};
  EXPECT_EQ(construction_error(MqttConfig{}, bad_subscribe),
            "[[device]] sensor-1: subscribe filter 'a+' is not a valid topic filter: wildcard "
            "not alone in its topic level, or '#' not last");
  const std::vector<DeviceConfig> empty{device("sensor-1", "pw", {""}, {})};
  EXPECT_EQ(construction_error(MqttConfig{}, empty),
            "[[device]] sensor-1: publish filter '' is not a valid topic filter: empty topic");
  MqttConfig mqtt;
  mqtt.deny = {"x/#/y"};
  EXPECT_EQ(construction_error(mqtt, {}),
            "[mqtt] deny filter 'x/#/y' is not a valid topic filter: wildcard not alone in its "
            "topic level, or '#' not last");
  mqtt.deny.clear();
  mqtt.anonymous_publish = {"bad\x01"};
  EXPECT_EQ(construction_error(mqtt, {}),
            "[mqtt] anonymous_publish filter 'bad\x01' is not a valid topic filter: topic holds a "
            "character that is not allowed");
  // Checked whether or not anonymous clients are allowed: a typo is a typo.
  mqtt.anonymous_publish.clear();
  mqtt.anonymous_subscribe = {"#/x"};
  EXPECT_NE(construction_error(mqtt, {}).find("[mqtt] anonymous_subscribe filter '#/x'"),
            std::string::npos);
}

TEST(AccessPolicy, ASharedSubscriptionAsAConfiguredFilterIsRefused) {
  const std::vector<DeviceConfig> devices{device("d", "pw", {}, {"$share/g/jobs/#"})};
  EXPECT_EQ(construction_error(MqttConfig{}, devices),
            "[[device]] d: subscribe filter '$share/g/jobs/#' is a shared subscription; give the "
            "filter after the group (a subscription to $share/GROUP/F is checked as F)");
}

TEST(AccessPolicy, ValidFiltersOfEveryShapeAreAccepted) {
  MqttConfig mqtt = anonymous_allowed(true);
  mqtt.deny = {"#", "+", "$SYS/#", "a/+/b", "/"};
  // Configured filters are bounded by the protocol, not by [mqtt] max_topic_levels.
  std::string deep = "l";
  for (int level = 1; level < 200; ++level) deep += "/l";
  const std::vector<DeviceConfig> devices{device("d", "pw", {deep + "/#"}, {"x"})};
  EXPECT_EQ(construction_error(mqtt, devices), "(no error)");
}

TEST(AccessPolicy, ConcurrentLoginsGetConsistentAnswers) {
  FakeCheck check;
  const std::vector<DeviceConfig> devices{device("d", "pw", {"d/#"}, {"d/#"})};
  const AccessPolicy p(anonymous_allowed(true), devices, check);
  const auto expected = granted(p.login("d", "pw"));
  ASSERT_TRUE(expected);
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (size_t i = 0; i < wrong.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int n = 0; n < 500; ++n) {
        if (granted(p.login("d", "pw")) != expected) ++wrong[i];
        if (refusal(p.login("d", "no")) != LoginRefusal::bad_credentials) ++wrong[i];
        if (!granted(p.login(std::nullopt, std::nullopt))) ++wrong[i];
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong, std::vector<int>(4, 0));
}

TEST(AccessPolicy, RealCryptHashesLogInAndTheDummyHasTheSameSchemeAndCost) {
  const std::string hash = *make_password_hash("correct horse", PasswordScheme::sha512crypt);
  std::vector<std::string> checked;
  std::mutex lock;
  const AccessPolicy p(MqttConfig{}, {DeviceConfig{"sensor-1", hash, {"s/#"}, {"s/#"}}},
                       [&](std::string_view h, std::string_view password) {
                         std::lock_guard<std::mutex> guard(lock);
                         checked.emplace_back(h);
                         return password_matches(h, password);
                       });
  const auto grant = granted(p.login("sensor-1", "correct horse"));
  ASSERT_TRUE(grant);
  EXPECT_EQ(grant->username(), "sensor-1");
  EXPECT_EQ(refusal(p.login("sensor-1", "Correct horse")), LoginRefusal::bad_credentials);
  checked.clear();
  EXPECT_EQ(refusal(p.login("sensor-2", "correct horse")), LoginRefusal::bad_credentials);
  ASSERT_EQ(checked.size(), 1u);
  EXPECT_NE(checked[0], hash);
  // sha512crypt with the device's salt and rounds: the same work as checking the device.
  EXPECT_EQ(checked[0].substr(0, checked[0].rfind('$')), hash.substr(0, hash.rfind('$')));
}

TEST(AccessPolicy, TheDefaultCheckIsCrypt) {
  const std::string hash = *make_password_hash("pw", PasswordScheme::sha512crypt);
  const AccessPolicy p(MqttConfig{}, {DeviceConfig{"d", hash, {}, {}}});
  EXPECT_TRUE(granted(p.login("d", "pw")));
  EXPECT_EQ(refusal(p.login("d", "pW")), LoginRefusal::bad_credentials);
}

}  // namespace
}  // namespace herald::mqtt
