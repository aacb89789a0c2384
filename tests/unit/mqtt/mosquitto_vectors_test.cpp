// Packets from Eclipse Mosquitto's data-driven broker tests
// (/work/shared/conformance/mqtt-mosquitto/data/*.json, see its README.md), each named by its
// file and its test ("group name"), with what Mosquitto's tests expect of a broker: accepted,
// or refused with DISCONNECT 0x81 malformed packet / 0x82 protocol error (MQTT 5), or the
// connection closed (3.1.1, no reason to compare). Only cases the codec decides are here:
// those where the answer depends on session state (an unknown topic alias, an AUTH without
// an authentication method in CONNECT, a second CONNECT) belong to the session's tests.
// Where herald knowingly answers otherwise, the case is in kHeraldDiffers with the reason.
#include <gtest/gtest.h>

#include "mqtt/packet_decoder.h"
#include "mqtt_test_support.h"

namespace herald::mqtt {
namespace {

using testing::decode_one;
using testing::describe;
using testing::from_hex;

constexpr ProtocolVersion kV5 = ProtocolVersion::v5;
constexpr ProtocolVersion kV311 = ProtocolVersion::v3_1_1;

enum class Expect { accepted, refused, malformed, protocol_error };

struct Vector {
  const char* file;
  const char* test;
  ProtocolVersion version;
  const char* hex;  // one packet, sent by the client after a successful CONNECT
  Expect expect;
};

const Vector kVectors[] = {
    {"AUTH.json", "v3.1.1 AUTH F0 long", kV311, "F00100", Expect::refused},
    {"AUTH.json", "v3.1.1 AUTH F1", kV311, "F100", Expect::refused},
    {"AUTH.json", "v3.1.1 AUTH F2", kV311, "F200", Expect::refused},
    {"AUTH.json", "v3.1.1 AUTH F4", kV311, "F400", Expect::refused},
    {"AUTH.json", "v3.1.1 AUTH F8", kV311, "F800", Expect::refused},
    {"CONNACK.json", "v3.1.1 CONNACK 20 CAF=0x10", kV311, "20021000", Expect::refused},
    {"CONNACK.json", "v3.1.1 CONNACK 20 long", kV311, "2003000000", Expect::refused},
    {"CONNACK.json", "v5.0 CONNACK 20 RC=0x82 (protocol error)", kV5, "2003008200",
     Expect::protocol_error},
    {"CONNACK.json", "v5.0 CONNACK 20 RC=0x99 (payload format invalid)", kV5, "2003009900",
     Expect::protocol_error},
    {"CONNACK.json", "v5.0 CONNACK 28", kV5, "2803000000", Expect::protocol_error},
    {"CONNACK.json", "v5.0 CONNACK PROPERTIES 20 with message-expiry-interval (four byte integer)",
     kV5, "20080000050200000001", Expect::protocol_error},
    {"CONNACK.json", "v5.0 CONNACK PROPERTIES 20 with request-problem-information (byte)", kV5,
     "20050000021700", Expect::protocol_error},
    {"CONNACK.json", "v5.0 CONNACK PROPERTIES 20 with server-keep-alive (two byte integer)", kV5,
     "2006000003130101", Expect::protocol_error},
    {"CONNACK.json", "v5.0 CONNACK PROPERTIES 20 with server-reference (UTF-8 string)", kV5,
     "20070000041C000170", Expect::protocol_error},
    {"CONNACK.json", "v5.0 CONNACK PROPERTIES 20 with unknown-property 0x0A (byte)", kV5,
     "20050000020A01", Expect::protocol_error},
    {"DISCONNECT.json", "v3.1.1 DISCONNECT E0 long", kV311, "E00100", Expect::refused},
    {"DISCONNECT.json",
     "v5.0 DISCONNECT ALLOWED PROPERTIES E0 with 2*session-expiry-interval (four byte integer)",
     kV5, "E00C000A11000000001100000000", Expect::protocol_error},
    {"DISCONNECT.json", "v5.0 DISCONNECT DISALLOWED PROPERTIES E0 with maximum-qos (byte) missing",
     kV5, "E003000124", Expect::malformed},
    {"DISCONNECT.json",
     "v5.0 DISCONNECT DISALLOWED PROPERTIES E0 with response-information (UTF-8 string) missing",
     kV5, "E00300011A", Expect::malformed},
    {"DISCONNECT.json",
     "v5.0 DISCONNECT DISALLOWED PROPERTIES E0 with topic-alias-maximum (two byte integer) missing",
     kV5, "E003000122", Expect::malformed},
    {"DISCONNECT.json",
     "v5.0 DISCONNECT DISALLOWED PROPERTIES E0 with unknown-property 0x07 (byte)", kV5,
     "E00400020701", Expect::malformed},
    {"DISCONNECT.json",
     "v5.0 DISCONNECT DISALLOWED PROPERTIES E0 with unknown-property 0x10 (byte)", kV5,
     "E00400021001", Expect::malformed},
    {"DISCONNECT.json",
     "v5.0 DISCONNECT DISALLOWED PROPERTIES E0 with will-delay-interval (four byte integer) "
     "missing",
     kV5, "E003000118", Expect::malformed},
    {"DISCONNECT.json", "v5.0 DISCONNECT E0 RC=0x00 PL=3 P=0x11", kV5, "E0050003110000",
     Expect::malformed},
    {"DISCONNECT.json", "v5.0 DISCONNECT E2 [MQTT-3.14.1-1]", kV5, "E200", Expect::malformed},
    {"FORBIDDEN.json", "v3.1.1 FORBIDDEN 00", kV311, "0000", Expect::refused},
    {"FORBIDDEN.json", "v3.1.1 FORBIDDEN 00 long", kV311, "000100", Expect::refused},
    {"FORBIDDEN.json", "v3.1.1 FORBIDDEN 01", kV311, "0100", Expect::refused},
    {"FORBIDDEN.json", "v3.1.1 FORBIDDEN 02", kV311, "0200", Expect::refused},
    {"FORBIDDEN.json", "v3.1.1 FORBIDDEN 04", kV311, "0400", Expect::refused},
    {"FORBIDDEN.json", "v3.1.1 FORBIDDEN 08", kV311, "0800", Expect::refused},
    {"PINGREQ.json", "v3.1.1 PINGREQ C0 long", kV311, "C00100", Expect::refused},
    {"PINGREQ.json", "v3.1.1 PINGREQ C1", kV311, "C100", Expect::refused},
    {"PINGREQ.json", "v3.1.1 PINGREQ C2", kV311, "C200", Expect::refused},
    {"PINGREQ.json", "v3.1.1 PINGREQ C4", kV311, "C400", Expect::refused},
    {"PINGREQ.json", "v3.1.1 PINGREQ C8", kV311, "C800", Expect::refused},
    {"PINGREQ.json", "v5.0 PINGREQ C1", kV5, "C100", Expect::malformed},
    {"PINGREQ.json", "v5.0 PINGREQ C2", kV5, "C200", Expect::malformed},
    {"PINGREQ.json", "v5.0 PINGREQ C4", kV5, "C400", Expect::malformed},
    {"PINGREQ.json", "v5.0 PINGREQ C8", kV5, "C800", Expect::malformed},
    {"PINGRESP.json", "v3.1.1 PINGRESP D0", kV311, "D000", Expect::refused},
    {"PINGRESP.json", "v3.1.1 PINGRESP D0 long", kV311, "D00100", Expect::refused},
    {"PINGRESP.json", "v3.1.1 PINGRESP D1", kV311, "D100", Expect::refused},
    {"PINGRESP.json", "v3.1.1 PINGRESP D2", kV311, "D200", Expect::refused},
    {"PINGRESP.json", "v3.1.1 PINGRESP D4", kV311, "D400", Expect::refused},
    {"PINGRESP.json", "v3.1.1 PINGRESP D8", kV311, "D800", Expect::refused},
    {"PINGRESP.json", "v5.0 PINGRESP D0", kV5, "D000", Expect::protocol_error},
    {"PINGRESP.json", "v5.0 PINGRESP D1", kV5, "D100", Expect::protocol_error},
    {"PINGRESP.json", "v5.0 PINGRESP D2", kV5, "D200", Expect::protocol_error},
    {"PINGRESP.json", "v5.0 PINGRESP D4", kV5, "D400", Expect::protocol_error},
    {"PUBACK.json", "v3.1.1 PUBACK 40 unsolicited", kV311, "40020001", Expect::accepted},
    {"PUBACK.json", "v3.1.1 PUBACK 40 unsolicited long", kV311, "4003000100", Expect::refused},
    {"PUBACK.json", "v3.1.1 PUBACK 48 unsolicited", kV311, "48020001", Expect::refused},
    {"PUBACK.json", "v5.0 PUBACK 40 unsolicited len=2", kV5, "40020001", Expect::accepted},
    {"PUBACK.json", "v5.0 PUBACK 40 unsolicited len=3", kV5, "4003000100", Expect::accepted},
    {"PUBACK.json", "v5.0 PUBACK 40 unsolicited len=3 fail", kV5, "4003000180", Expect::accepted},
    {"PUBACK.json", "v5.0 PUBACK 40 unsolicited len=4 ok", kV5, "400400010000", Expect::accepted},
    {"PUBACK.json", "v5.0 PUBACK 40 unsolicited len=4 rc=fail", kV5, "400400018000",
     Expect::accepted},
    {"PUBACK.json", "v5.0 PUBACK 41 unsolicited", kV5, "4103000100", Expect::malformed},
    {"PUBACK.json", "v5.0 PUBACK ALLOWED PROPERTIES 40 with 2*user-property", kV5,
     "40120001000E2600017000017126000170000171", Expect::accepted},
    {"PUBACK.json", "v5.0 PUBACK ALLOWED PROPERTIES 40 with reason-string property", kV5,
     "4008000100041F000170", Expect::accepted},
    {"PUBACK.json", "v5.0 PUBACK ALLOWED PROPERTIES 40 with user-property", kV5,
     "400B0001000726000170000171", Expect::accepted},
    {"PUBACK.json", "v5.0 PUBACK ALLOWED PROPERTIES 40 with user-property missing key,value", kV5,
     "40050001000123", Expect::malformed},
    {"PUBACK.json",
     "v5.0 PUBACK DISALLOWED PROPERTIES 40 with assigned-client-identifier (UTF-8 string) missing",
     kV5, "40050001000112", Expect::malformed},
    {"PUBACK.json", "v5.0 PUBACK DISALLOWED PROPERTIES 40 with invalid-property 0x8000 (byte)", kV5,
     "400700010003800001", Expect::malformed},
    {"PUBACK.json",
     "v5.0 PUBACK DISALLOWED PROPERTIES 40 with server-keep-alive (two byte integer) missing", kV5,
     "40050001000113", Expect::malformed},
    {"PUBACK.json",
     "v5.0 PUBACK DISALLOWED PROPERTIES 40 with shared-subscription-available (byte) missing", kV5,
     "4005000100012A", Expect::malformed},
    {"PUBACK.json", "v5.0 PUBACK DISALLOWED PROPERTIES 40 with unknown-property 0x06 (byte)", kV5,
     "4006000100020601", Expect::malformed},
    {"PUBACK.json", "v5.0 PUBACK DISALLOWED PROPERTIES 40 with unknown-property 0x10 (byte)", kV5,
     "4006000100021001", Expect::malformed},
    {"PUBCOMP.json", "v3.1.1 PUBCOMP 70 unsolicited", kV311, "70020001", Expect::accepted},
    {"PUBCOMP.json", "v3.1.1 PUBCOMP 70 unsolicited long", kV311, "7003000100", Expect::refused},
    {"PUBCOMP.json", "v3.1.1 PUBCOMP 78 unsolicited", kV311, "78020001", Expect::refused},
    {"PUBCOMP.json", "v5.0 PUBCOMP 70 unsolicited", kV5, "70020001", Expect::accepted},
    {"PUBCOMP.json", "v5.0 PUBCOMP 70 unsolicited rc", kV5, "7003000100", Expect::accepted},
    {"PUBCOMP.json", "v5.0 PUBCOMP 70 unsolicited rc,properties", kV5, "700400010000",
     Expect::accepted},
    {"PUBCOMP.json", "v5.0 PUBCOMP 70 unsolicited rc=92", kV5, "7003000192", Expect::accepted},
    {"PUBCOMP.json", "v5.0 PUBCOMP 70 unsolicited rc=FF", kV5, "70030001FF",
     Expect::protocol_error},
    {"PUBCOMP.json", "v5.0 PUBCOMP 74 unsolicited rc", kV5, "7403000100", Expect::malformed},
    {"PUBCOMP.json", "v5.0 PUBCOMP ALLOWED PROPERTIES 70 with 2*user-property", kV5,
     "70120001000E2600017000017126000170000171", Expect::accepted},
    {"PUBCOMP.json", "v5.0 PUBCOMP ALLOWED PROPERTIES 70 with reason-string property", kV5,
     "7008000100041F000170", Expect::accepted},
    {"PUBCOMP.json", "v5.0 PUBCOMP ALLOWED PROPERTIES 70 with reason-string property missing", kV5,
     "7005000100011F", Expect::malformed},
    {"PUBCOMP.json", "v5.0 PUBCOMP ALLOWED PROPERTIES 70 with user-property", kV5,
     "700B0001000726000170000171", Expect::accepted},
    {"PUBCOMP.json",
     "v5.0 PUBCOMP DISALLOWED PROPERTIES 70 with authentication-data (binary data) missing", kV5,
     "70050001000116", Expect::malformed},
    {"PUBCOMP.json",
     "v5.0 PUBCOMP DISALLOWED PROPERTIES 70 with content-type (UTF-8 string) missing", kV5,
     "70050001000103", Expect::malformed},
    {"PUBCOMP.json", "v5.0 PUBCOMP DISALLOWED PROPERTIES 70 with unknown-property 0x04 (byte)", kV5,
     "7006000100020401", Expect::malformed},
    {"PUBCOMP.json", "v5.0 PUBCOMP DISALLOWED PROPERTIES 70 with unknown-property 0x0E (byte)", kV5,
     "7006000100020E01", Expect::malformed},
    {"PUBCOMP.json",
     "v5.0 PUBCOMP DISALLOWED PROPERTIES 70 with wildcard-subscription-available (byte) missing",
     kV5, "70050001000128", Expect::malformed},
    {"PUBLISH.json", "v3.1.1 PUBLISH 30", kV311, "300E0005746F7069637061796C6F6164",
     Expect::accepted},
    {"PUBLISH.json", "v3.1.1 PUBLISH 30 topic 0", kV311, "300900007061796C6F6164", Expect::refused},
    {"PUBLISH.json", "v3.1.1 PUBLISH 30 topic with U+001F", kV311,
     "300E0005746F701F707061796C6F6164", Expect::refused},
    {"PUBLISH.json", "v3.1.1 PUBLISH 30 topic with U+2A6D4 (section 1.5.3.1)", kV311,
     "300E000541F0AA9B947061796C6F6164", Expect::accepted},
    {"PUBLISH.json", "v3.1.1 PUBLISH 31 retain 1", kV311, "310E0005746F7069637061796C6F6164",
     Expect::accepted},
    {"PUBLISH.json", "v3.1.1 PUBLISH 31 retain 1 zero length", kV311, "31070005746F706963",
     Expect::accepted},
    {"PUBLISH.json", "v5.0 PUBLISH 30", kV5, "300F0005746F706963007061796C6F6164",
     Expect::accepted},
    {"PUBLISH.json", "v5.0 PUBLISH 30 topic with + [MQTT-3.3.2-2]", kV5,
     "300F00052B6F706963007061796C6F6164", Expect::malformed},
    {"PUBLISH.json", "v5.0 PUBLISH 30 topic with U+2A6D4 (section 1.5.3.1)", kV5,
     "300F000541F0AA9B94007061796C6F6164", Expect::accepted},
    {"PUBLISH.json", "v5.0 PUBLISH 31 retain 1", kV5, "310F0005746F706963007061796C6F6164",
     Expect::accepted},
    {"PUBLISH.json", "v5.0 PUBLISH 31 retain 1 zero length", kV5, "31080005746F70696300",
     Expect::accepted},
    {"PUBLISH.json", "v5.0 PUBLISH 32 QoS 1 Mid 0", kV5, "32110005746F7069630000007061796C6F6164",
     Expect::protocol_error},
    {"PUBLISH.json",
     "v5.0 PUBLISH ALLOWED PROPERTIES subscription-identifier=0x8080808001 (variable byte integer)",
     kV5, "32170005746F7069631234060B80808080017061796C6F6164", Expect::malformed},
    {"PUBLISH.json", "v5.0 PUBLISH ALLOWED PROPERTIES topic-alias (two byte integer) missing", kV5,
     "32120005746F706963123401237061796C6F6164", Expect::malformed},
    {"PUBLISH.json", "v5.0 PUBLISH DISALLOWED PROPERTIES authentication-data (binary data) missing",
     kV5, "32120005746F706963123401167061796C6F6164", Expect::malformed},
    {"PUBLISH.json",
     "v5.0 PUBLISH DISALLOWED PROPERTIES subscription-identifier-available (byte) missing", kV5,
     "32120005746F706963123401297061796C6F6164", Expect::malformed},
    {"PUBLISH.json", "v5.0 PUBLISH DISALLOWED PROPERTIES unknown-property 0x0A (byte)", kV5,
     "32130005746F7069631234020A017061796C6F6164", Expect::malformed},
    {"PUBLISH.json", "v5.0 PUBLISH DISALLOWED PROPERTIES unknown-property 0x1E (byte)", kV5,
     "32130005746F7069631234021E017061796C6F6164", Expect::malformed},
    {"PUBREC.json", "v3.1.1 PUBREC 50 unsolicited long", kV311, "5003000100", Expect::refused},
    {"PUBREC.json", "v3.1.1 PUBREC 58 unsolicited", kV311, "58020001", Expect::refused},
    {"PUBREC.json", "v5.0 PUBREC 50 unsolicited len=3 fail", kV5, "5003000180", Expect::accepted},
    {"PUBREC.json", "v5.0 PUBREC 50 unsolicited len=4 rc=fail", kV5, "500400018000",
     Expect::accepted},
    {"PUBREC.json", "v5.0 PUBREC 51 unsolicited", kV5, "5103000100", Expect::malformed},
    {"PUBREC.json", "v5.0 PUBREC ALLOWED PROPERTIES 50 with user-property missing key,value", kV5,
     "50050001000123", Expect::malformed},
    {"PUBREC.json",
     "v5.0 PUBREC DISALLOWED PROPERTIES 50 with assigned-client-identifier (UTF-8 string) missing",
     kV5, "50050001000112", Expect::malformed},
    {"PUBREC.json", "v5.0 PUBREC DISALLOWED PROPERTIES 50 with invalid-property 0x8000 (byte)", kV5,
     "500700010003800001", Expect::malformed},
    {"PUBREC.json",
     "v5.0 PUBREC DISALLOWED PROPERTIES 50 with server-keep-alive (two byte integer) missing", kV5,
     "50050001000113", Expect::malformed},
    {"PUBREC.json",
     "v5.0 PUBREC DISALLOWED PROPERTIES 50 with shared-subscription-available (byte) missing", kV5,
     "5005000100012A", Expect::malformed},
    {"PUBREC.json", "v5.0 PUBREC DISALLOWED PROPERTIES 50 with unknown-property 0x06 (byte)", kV5,
     "5006000100020601", Expect::malformed},
    {"PUBREC.json", "v5.0 PUBREC DISALLOWED PROPERTIES 50 with unknown-property 0x10 (byte)", kV5,
     "5006000100021001", Expect::malformed},
    {"PUBREL.json", "v3.1.1 PUBREL 62 unsolicited long", kV311, "6203000100", Expect::refused},
    {"PUBREL.json", "v3.1.1 PUBREL 6A unsolicited [MQTT-3.6.1-1]", kV311, "6A020001",
     Expect::refused},
    {"PUBREL.json", "v5.0 PUBREL 63 unsolicited", kV5, "6303000100", Expect::malformed},
    {"PUBREL.json", "v5.0 PUBREL ALLOWED PROPERTIES 62 with user-property missing key,value", kV5,
     "62050001000123", Expect::malformed},
    {"PUBREL.json",
     "v5.0 PUBREL DISALLOWED PROPERTIES 62 with assigned-client-identifier (UTF-8 string) missing",
     kV5, "62050001000112", Expect::malformed},
    {"PUBREL.json", "v5.0 PUBREL DISALLOWED PROPERTIES 62 with invalid-property 0x8000 (byte)", kV5,
     "620700010003800001", Expect::malformed},
    {"PUBREL.json",
     "v5.0 PUBREL DISALLOWED PROPERTIES 62 with server-keep-alive (two byte integer) missing", kV5,
     "62050001000113", Expect::malformed},
    {"PUBREL.json",
     "v5.0 PUBREL DISALLOWED PROPERTIES 62 with shared-subscription-available (byte) missing", kV5,
     "6205000100012A", Expect::malformed},
    {"PUBREL.json", "v5.0 PUBREL DISALLOWED PROPERTIES 62 with unknown-property 0x06 (byte)", kV5,
     "6206000100020601", Expect::malformed},
    {"PUBREL.json", "v5.0 PUBREL DISALLOWED PROPERTIES 62 with unknown-property 0x10 (byte)", kV5,
     "6206000100021001", Expect::malformed},
    {"REGRESSION.json", "REGRESSIONS acl-check-uaf", kV311, "300D0004746573747061796C6F6164",
     Expect::accepted},
    {"SUBACK.json", "v3.1.1 SUBACK 90 mid 0", kV311, "9003000000", Expect::refused},
    {"SUBACK.json", "v5.0 SUBACK 90 reason code 0x83 implementation specific error", kV5,
     "900400010083", Expect::protocol_error},
    {"SUBACK.json", "v5.0 SUBACK 90 short 0", kV5, "9000", Expect::protocol_error},
    {"SUBACK.json", "v5.0 SUBACK PROPERTIES 90 with 2*reason-string property", kV5,
     "900C0001081F000170001F000171", Expect::protocol_error},
    {"SUBACK.json", "v5.0 SUBACK PROPERTIES 90 with authentication-data (binary data)", kV5,
     "90080001041600017000", Expect::protocol_error},
    {"SUBACK.json", "v5.0 SUBACK PROPERTIES 90 with authentication-method (UTF-8 string)", kV5,
     "90080001041500017000", Expect::protocol_error},
    {"SUBACK.json", "v5.0 SUBACK PROPERTIES 90 with receive-maximum (two byte integer) missing",
     kV5, "90050001012100", Expect::protocol_error},
    {"SUBACK.json", "v5.0 SUBACK PROPERTIES 90 with session-expiry-interval (four byte integer)",
     kV5, "9009000105110000000100", Expect::protocol_error},
    {"SUBACK.json", "v5.0 SUBACK PROPERTIES 90 with subscription-identifier-available (byte)", kV5,
     "9006000102290000", Expect::protocol_error},
    {"SUBACK.json", "v5.0 SUBACK PROPERTIES 90 with unknown-property 0x0D (byte)", kV5,
     "90060001020D0100", Expect::protocol_error},
    {"SUBSCRIBE.json", "v3.1.1 SUBSCRIBE 80", kV311, "8006123400017000", Expect::refused},
    {"SUBSCRIBE.json", "v3.1.1 SUBSCRIBE 82 QoS 0x80 [MQTT-3-8.3-4]", kV311, "8206123400017080",
     Expect::refused},
    {"SUBSCRIBE.json", "v3.1.1 SUBSCRIBE 82 short 3", kV311, "8203123400", Expect::refused},
    {"SUBSCRIBE.json", "v5.0 SUBSCRIBE 82 multiple topic 2 len 0", kV5, "820A12340000017100000000",
     Expect::malformed},
    {"SUBSCRIBE.json", "v5.0 SUBSCRIBE 82 topic with U+009F", kV5,
     "82121234000005746FC29F707061796C6F616400", Expect::malformed},
    {"SUBSCRIBE.json", "v5.0 SUBSCRIBE 86 [MQTT-3.8.1-1]", kV5, "860712340000017000",
     Expect::malformed},
    {"SUBSCRIBE.json",
     "v5.0 SUBSCRIBE DISALLOWED PROPERTIES 82 with authentication-method (UTF-8 string)", kV5,
     "820B0001041500017000017000", Expect::malformed},
    {"SUBSCRIBE.json", "v5.0 SUBSCRIBE DISALLOWED PROPERTIES 82 with retain-available (byte)", kV5,
     "8209000102250000017000", Expect::malformed},
    {"SUBSCRIBE.json", "v5.0 SUBSCRIBE DISALLOWED PROPERTIES 82 with unknown-property 0x05 (byte)",
     kV5, "8209000102050100017000", Expect::malformed},
    {"SUBSCRIBE.json", "v5.0 SUBSCRIBE DISALLOWED PROPERTIES 82 with unknown-property 0x1D (byte)",
     kV5, "82090001021D0100017000", Expect::malformed},
    {"UNSUBACK.json", "v3.1.1 UNSUBACK B0 long", kV311, "B003000100", Expect::refused},
    {"UNSUBACK.json", "v5.0 UNSUBACK B0 reason code 0x8F topic filter invalid", kV5, "B0040001008F",
     Expect::protocol_error},
    {"UNSUBACK.json", "v5.0 UNSUBACK B0 short 0", kV5, "B000", Expect::protocol_error},
    {"UNSUBACK.json", "v5.0 UNSUBACK PROPERTIES B0 with authentication-data (binary data) missing",
     kV5, "B0050001011600", Expect::protocol_error},
    {"UNSUBACK.json", "v5.0 UNSUBACK PROPERTIES B0 with content-type (UTF-8 string) missing", kV5,
     "B0050001010300", Expect::protocol_error},
    {"UNSUBACK.json", "v5.0 UNSUBACK PROPERTIES B0 with request-problem-information (byte)", kV5,
     "B006000102170000", Expect::protocol_error},
    {"UNSUBACK.json", "v5.0 UNSUBACK PROPERTIES B0 with retain-available (byte) missing", kV5,
     "B0050001012500", Expect::protocol_error},
    {"UNSUBACK.json",
     "v5.0 UNSUBACK PROPERTIES B0 with session-expiry-interval (four byte integer) missing", kV5,
     "B0050001011100", Expect::protocol_error},
    {"UNSUBACK.json",
     "v5.0 UNSUBACK PROPERTIES B0 with topic-alias-maximum (two byte integer) missing", kV5,
     "B0050001012200", Expect::protocol_error},
    {"UNSUBACK.json", "v5.0 UNSUBACK PROPERTIES B0 with unknown-property 0x0D (byte)", kV5,
     "B0060001020D0100", Expect::protocol_error},
    {"UNSUBSCRIBE.json", "v3.1.1 UNSUBSCRIBE A2 multiple zero 1st", kV311, "A20712340000000171",
     Expect::refused},
    {"UNSUBSCRIBE.json", "v3.1.1 UNSUBSCRIBE A2 topic with U+007F", kV311, "A20912340005746F707F70",
     Expect::refused},
    {"UNSUBSCRIBE.json", "v3.1.1 UNSUBSCRIBE A3 [MQTT-3.10.1-1]", kV311, "A3051234000170",
     Expect::refused},
    {"UNSUBSCRIBE.json", "v5.0 UNSUBSCRIBE A2 short 1", kV5, "A20112", Expect::malformed},
    {"UNSUBSCRIBE.json", "v5.0 UNSUBSCRIBE A2 topic with U+D800", kV5, "A20A1234000005746FEDA080",
     Expect::malformed},
    {"UNSUBSCRIBE.json",
     "v5.0 UNSUBSCRIBE DISALLOWED PROPERTIES A2 with authentication-data (binary data)", kV5,
     "A20A00010416000170000170", Expect::malformed},
    {"UNSUBSCRIBE.json",
     "v5.0 UNSUBSCRIBE DISALLOWED PROPERTIES A2 with maximum-packet-size (four byte integer)", kV5,
     "A20B0001052700000001000170", Expect::malformed},
    {"UNSUBSCRIBE.json", "v5.0 UNSUBSCRIBE DISALLOWED PROPERTIES A2 with maximum-qos (byte)", kV5,
     "A2080001022400000170", Expect::malformed},
    {"UNSUBSCRIBE.json",
     "v5.0 UNSUBSCRIBE DISALLOWED PROPERTIES A2 with unknown-property 0x05 (byte)", kV5,
     "A2080001020501000170", Expect::malformed},
    {"UNSUBSCRIBE.json",
     "v5.0 UNSUBSCRIBE DISALLOWED PROPERTIES A2 with unknown-property 0x10 (byte)", kV5,
     "A2080001021001000170", Expect::malformed},
};

void expect_outcome(const DecodeResult& result, Expect expect, const std::string& label) {
  switch (expect) {
    case Expect::accepted:
      EXPECT_TRUE(std::holds_alternative<Packet>(result)) << label << ": " << describe(result);
      return;
    case Expect::refused:
      EXPECT_TRUE(std::holds_alternative<DecodeError>(result)) << label << ": " << describe(result);
      return;
    case Expect::malformed:
    case Expect::protocol_error: {
      const auto* error = std::get_if<DecodeError>(&result);
      ASSERT_TRUE(error) << label << ": " << describe(result);
      EXPECT_EQ(error->reason, expect == Expect::malformed ? ReasonCode::malformed_packet
                                                           : ReasonCode::protocol_error)
          << label << ": " << describe(result);
      return;
    }
  }
}

TEST(MosquittoVectors, PacketsAfterConnectGetTheExpectedOutcome) {
  for (const Vector& v : kVectors) {
    expect_outcome(decode_one(from_hex(v.hex), v.version), v.expect,
                   std::string(v.file) + " \"" + v.test + "\"");
  }
}

// CONNECT.json: these tests send the CONNECT themselves ("connect": false), so the decoder
// has no version yet.
const Vector kConnects[] = {
    {"CONNECT.json", "v3.1.1 CONNECT 10 ok", kV311, "10 0D 0004 4D515454 04 02 000A 0001 70",
     Expect::accepted},
    {"CONNECT.json", "v3.1.1 CONNECT 10 empty client ID", kV311,
     "10 0C 0004 4D515454 04 02 000A 0000", Expect::accepted},
    {"CONNECT.json", "v3.1.1 CONNECT 10 missing client ID", kV311, "10 0A 0004 4D515454 04 02 000A",
     Expect::malformed},
    {"CONNECT.json", "v3.1.1 CONNECT 10 remaining length 5 bytes", kV311,
     "10 FFFFFFFF7F 0004 4D515454 06 00 000A 0001 70", Expect::malformed},
    {"CONNECT.json", "v3.1.1 CONNECT 11", kV311, "11 0D 0004 4D515454 04 02 000A 0001 70",
     Expect::malformed},
    {"CONNECT.json", "v3.1.1 CONNECT 18", kV311, "18 0D 0004 4D515454 04 02 000A 0001 70",
     Expect::malformed},
    {"CONNECT.json", "v3.1.1 CONNECT 10 short proto", kV311, "10 0C 0003 4D5154 04 02 000A 0001 70",
     Expect::malformed},
    {"CONNECT.json", "v3.1.1 CONNECT 10 zero proto", kV311, "10 09 0000 04 02 000A 0001 70",
     Expect::malformed},
    {"CONNECT.json", "v3.1.1 CONNECT 10 [MQTT-3.1.2-1]", kV311,
     "10 0D 0004 4D515455 04 02 000A 0001 70", Expect::malformed},
    {"CONNECT.json", "v3.1.1 CONNECT 10 [MQTT-3.1.2-3]", kV311,
     "10 0D 0004 4D515454 04 01 000A 0001 70", Expect::malformed},
    {"CONNECT.json", "v3.1.1 CONNECT 10 Will flag 0 Will QoS 1 [MQTT-3.1.2-11]", kV311,
     "10 0D 0004 4D515454 04 0A 000A 0001 70", Expect::malformed},
    {"CONNECT.json", "v3.1.1 CONNECT 10 Will flag 0 Will retain 1 [MQTT-3.1.2-11]", kV311,
     "10 0D 0004 4D515454 04 12 000A 0001 70", Expect::malformed},
    {"CONNECT.json", "v3.1.1 CONNECT 10 Will flag 1 no Will topic [MQTT-3.1.2-9]", kV311,
     "10 10 0004 4D515454 04 06 000A 0001 70 0001 70", Expect::malformed},
    {"CONNECT.json", "v3.1.1 CONNECT 10 Will flag 1 ok", kV311,
     "10 13 0004 4D515454 04 06 000A 0001 70 0001 70 0001 70", Expect::accepted},
    {"CONNECT.json", "v3.1.1 CONNECT 10 Will flag 1 Will Qos 3 [MQTT-3.1.2-14]", kV311,
     "10 13 0004 4D515454 04 1E 000A 0001 70 0001 70 0001 70", Expect::malformed},
    {"CONNECT.json", "v3.1.1 CONNECT 10 Will topic with U+D800", kV311,
     "10 17 0004 4D515454 04 06 000A 0001 70 0005 746FEDA080 0001 70", Expect::malformed},
    {"CONNECT.json", "v3.1.1 CONNECT 10 Will topic with U+0001", kV311,
     "10 17 0004 4D515454 04 06 000A 0001 70 0005 746F700170 0001 70", Expect::malformed},
    {"CONNECT.json", "v3.1.1 CONNECT 10 Client ID with 0x0000", kV311,
     "10 11 0004 4D515454 04 02 000A 0005 746F700000", Expect::malformed},
    {"CONNECT.json", "v3.1.1 CONNECT 10 [MQTT-3.1.2-18]", kV311,
     "10 10 0004 4D515454 04 02 000A 0001 70 0001 70", Expect::malformed},
    {"CONNECT.json", "v3.1.1 CONNECT 10 [MQTT-3.1.2-19]", kV311,
     "10 0D 0004 4D515454 04 82 000A 0001 70", Expect::malformed},
    {"CONNECT.json", "v3.1.1 CONNECT 10 Username with 0xD800", kV311,
     "10 14 0004 4D515454 04 82 000A 0001 70 0005 746FEDA080", Expect::malformed},
    {"CONNECT.json", "v3.1.1 CONNECT 10 Username flag 1 Password flag 1 ok", kV311,
     "10 13 0004 4D515454 04 C2 000A 0001 70 0001 70 0001 70", Expect::accepted},
    {"CONNECT.json", "v3.1.1 CONNECT 10 [MQTT-3.1.2-22]", kV311,
     "10 10 0004 4D515454 04 42 000A 0001 70 0001 70", Expect::malformed},
    {"CONNECT.json", "v3.1.1 CONNECT 10 Password with 0x0000", kV311,
     "10 17 00 04 4D515454 04 C2 000A 0001 70 0001 70 0005 746F700000", Expect::accepted},
    {"CONNECT.json", "v5.0 CONNECT 10 ok", kV5, "10 0E 0004 4D515454 05 02 000A 00 0001 70",
     Expect::accepted},
    {"CONNECT.json", "v5.0 CONNECT 10 Client ID with U+D800", kV5,
     "10 12 0004 4D515454 05 02 000A 00 0005 746FEDA080", Expect::malformed},
    // MQTT 5 1.5.4 lets a receiver refuse control characters; herald does in client ids.
    {"CONNECT.json", "v3.1.1 CONNECT 10 Client ID with U+0001", kV311,
     "10 11 0004 4D515454 04 02 000A 0005 746F700170", Expect::malformed},
    {"CONNECT.json", "v5.0 CONNECT 10 [MQTT-3.1.2-16]", kV5,
     "10 11 0004 4D515454 05 02 000A 00 0001 70 0001 70", Expect::malformed},
    {"CONNECT.json", "v5.0 CONNECT 10 [MQTT-3.1.2-17]", kV5,
     "10 0E 0004 4D515454 05 82 000A 00 0001 70", Expect::malformed},
};

TEST(MosquittoVectors, ConnectsGetTheExpectedOutcome) {
  for (const Vector& v : kConnects) {
    const std::string label = std::string(v.file) + " \"" + v.test + "\"";
    const DecodeResult result = decode_one(from_hex(v.hex), std::nullopt);
    expect_outcome(result, v.expect, label);
    if (const auto* packet = std::get_if<Packet>(&result)) {
      EXPECT_EQ(std::get<Connect>(*packet).version, v.version) << label;
    }
  }
}

TEST(MosquittoVectors, ProtocolLevelsOtherThan4And5AreUnsupported) {
  // CONNECT.json "v3.1.1 CONNECT 10 proto ver 2 [MQTT-3.1.2-2]" and "... proto ver 6": the
  // broker answers CONNACK 0x01, which the session sends for this reason.
  for (const char* hex :
       {"10 0D 0004 4D515454 02 00 000A 0001 70", "10 0D 0004 4D515454 06 00 000A 0001 70"}) {
    const DecodeResult result = decode_one(from_hex(hex), std::nullopt);
    ASSERT_TRUE(std::holds_alternative<DecodeError>(result)) << hex;
    EXPECT_EQ(std::get<DecodeError>(result).reason, ReasonCode::unsupported_protocol_version);
  }
}

// Where herald gives another answer than Mosquitto's tests expect, and why.
struct Difference {
  const char* file;
  const char* test;
  ProtocolVersion version;
  const char* hex;
  std::optional<ReasonCode> herald;  // nullopt: accepted
  const char* why;
};

const Difference kHeraldDiffers[] = {
    {"CONNECT.json", "v3.1 CONNECT 10 ok", kV311, "10 0F 0006 4D5149736470 03 01 000A 0001 70",
     ReasonCode::unsupported_protocol_version,
     "herald does not speak MQTT 3.1; MQTT 3.1.1 3.1.2.2 answers CONNACK 0x01"},
    {"PUBLISH.json", "v5.0 PUBLISH 30 topic 0", kV5, "300A0000007061796C6F6164",
     ReasonCode::protocol_error,
     "MQTT 5 3.3.2.3.4: a zero-length topic without a topic alias is a Protocol Error"},
    {"SUBSCRIBE.json", "v5.0 SUBSCRIBE 82 short 3", kV5, "8203123400", ReasonCode::protocol_error,
     "MQTT 5 3.8.3: a SUBSCRIBE packet with no Payload is a Protocol Error"},
    {"SUBSCRIBE.json", "v5.0 SUBSCRIBE 82 QoS 0 retain handling=3 0x30 [MQTT-3-8.3-4]", kV5,
     "820712340000017030", ReasonCode::protocol_error,
     "MQTT 5 3.8.3.1: a Retain Handling value of 3 is a Protocol Error"},
    {"SUBSCRIBE.json",
     "v5.0 SUBSCRIBE ALLOWED PROPERTIES 82 with subscription-identifier=0 (variable byte integer)",
     kV5, "82090001020B0000017000", ReasonCode::protocol_error,
     "MQTT 5 3.8.2.1.2: a Subscription Identifier of 0 is a Protocol Error"},
    {"UNSUBSCRIBE.json", "v5.0 UNSUBSCRIBE A2 short 3 [MQTT-3.10.3-2]", kV5, "A203123400",
     ReasonCode::protocol_error,
     "MQTT 5 3.10.3: an UNSUBSCRIBE packet with no Payload is a Protocol Error"},
};

TEST(MosquittoVectors, HeraldDiffersWhereTheSpecSaysOtherwise) {
  for (const Difference& d : kHeraldDiffers) {
    const std::string label = std::string(d.file) + " \"" + d.test + "\" (" + d.why + ")";
    PacketDecoder decoder(Sender::client);
    if (std::string_view(d.file) != "CONNECT.json") decoder.set_version(d.version);
    decoder.feed(from_hex(d.hex));
    const DecodeResult result = decoder.next();
    if (!d.herald) {
      EXPECT_TRUE(std::holds_alternative<Packet>(result)) << label << ": " << describe(result);
      continue;
    }
    const auto* error = std::get_if<DecodeError>(&result);
    if (!error) {
      ADD_FAILURE() << label << " was not refused: " << describe(result);
      continue;
    }
    EXPECT_EQ(error->reason, *d.herald) << label << ": " << describe(result);
  }
}

}  // namespace
}  // namespace herald::mqtt
