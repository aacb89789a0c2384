// The UTF-8 rules MQTT puts on its strings (MQTT 5 1.5.4, MQTT 3.1.1 1.5.3).
#pragma once

#include <string_view>

namespace herald::mqtt {

// Well-formed UTF-8 (RFC 3629, as util/utf8.h checks it: no overlong forms, no surrogates
// U+D800..U+DFFF, nothing above U+10FFFF) without U+0000 [MQTT-1.5.4-1], [MQTT-1.5.4-2].
// A string that fails this is a malformed packet.
bool is_mqtt_utf8(std::string_view text);

// Whether well-formed `text` holds the control characters U+0001..U+001F, U+007F..U+009F
// or a non-character (U+FDD0..U+FDEF, U+nFFFE, U+nFFFF), which MQTT 5 1.5.4 says a sender
// SHOULD NOT use and a receiver MAY refuse. herald refuses them in topic names and filters,
// where they would otherwise reach subscribers and ACLs, and in client identifiers, which
// its logs show.
bool has_discouraged_code_points(std::string_view text);

}  // namespace herald::mqtt
