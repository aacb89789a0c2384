#include "mqtt/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace herald::mqtt {
namespace {

TEST(MqttUtf8, AcceptsWellFormedTextOfEveryLength) {
  EXPECT_TRUE(is_mqtt_utf8(""));
  EXPECT_TRUE(is_mqtt_utf8("plain ascii"));
  EXPECT_TRUE(is_mqtt_utf8("caf\xC3\xA9"));        // U+00E9, two bytes
  EXPECT_TRUE(is_mqtt_utf8("\xE2\x82\xAC"));       // U+20AC, three bytes
  EXPECT_TRUE(is_mqtt_utf8("A\xF0\xAA\x9B\x94"));  // U+2A6D4, MQTT 5 1.5.4's example
  EXPECT_TRUE(is_mqtt_utf8("\xF4\x8F\xBF\xBF"));   // U+10FFFF, the last code point
  EXPECT_TRUE(is_mqtt_utf8("\xEF\xBB\xBF"));       // U+FEFF is kept, not stripped
}

TEST(MqttUtf8, RefusesNulSurrogatesAndIllFormedBytes) {
  EXPECT_FALSE(is_mqtt_utf8(std::string("a\0b", 3)));  // [MQTT-1.5.4-2]
  EXPECT_FALSE(is_mqtt_utf8("\xED\xA0\x80"));          // U+D800 [MQTT-1.5.4-1]
  EXPECT_FALSE(is_mqtt_utf8("\xED\xBF\xBF"));          // U+DFFF
  EXPECT_FALSE(is_mqtt_utf8("\xC0\x80"));              // overlong U+0000
  EXPECT_FALSE(is_mqtt_utf8("\xE0\x80\xAF"));          // overlong '/'
  EXPECT_FALSE(is_mqtt_utf8("\xF4\x90\x80\x80"));      // above U+10FFFF
  EXPECT_FALSE(is_mqtt_utf8("\x80"));                  // a lone continuation byte
  EXPECT_FALSE(is_mqtt_utf8("\xE2\x82"));              // cut short
  EXPECT_FALSE(is_mqtt_utf8("\xE2\x28\xA1"));          // continuation byte missing
  EXPECT_FALSE(is_mqtt_utf8("\xFF"));
}

TEST(MqttUtf8, DiscouragedCodePointsAreControlsAndNonCharacters) {
  EXPECT_FALSE(has_discouraged_code_points("sensors/kitchen"));
  EXPECT_TRUE(has_discouraged_code_points("a\tb"));
  EXPECT_TRUE(has_discouraged_code_points("\x7F"));
  EXPECT_TRUE(has_discouraged_code_points("\xC2\x80"));          // U+0080
  EXPECT_FALSE(has_discouraged_code_points("\xC2\xA0"));         // U+00A0
  EXPECT_TRUE(has_discouraged_code_points("\xEF\xB7\x90"));      // U+FDD0
  EXPECT_TRUE(has_discouraged_code_points("\xEF\xBF\xBE"));      // U+FFFE
  EXPECT_TRUE(has_discouraged_code_points("\xF0\x9F\xBF\xBF"));  // U+1FFFF
}

}  // namespace
}  // namespace herald::mqtt
