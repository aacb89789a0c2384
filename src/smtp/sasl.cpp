#include "smtp/sasl.h"

#include <array>

namespace herald {
namespace {

constexpr int kNotBase64 = -1;

constexpr std::array<int, 256> make_decode_table() {
  std::array<int, 256> table{};
  table.fill(kNotBase64);
  constexpr std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < alphabet.size(); ++i) {
    table[static_cast<unsigned char>(alphabet[i])] = static_cast<int>(i);
  }
  return table;
}

constexpr std::array<int, 256> kDecodeTable = make_decode_table();

}  // namespace

std::optional<std::string> decode_base64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t group = 0; group < text.size(); group += 4) {
    const bool last = group + 4 == text.size();
    // RFC 4648 3.3: padding only ends the data: "xx==" or "xxx=" in the last group.
    size_t padding = 0;
    if (last && text[group + 3] == '=') padding = text[group + 2] == '=' ? 2 : 1;
    unsigned bits = 0;
    for (size_t i = 0; i < 4 - padding; ++i) {
      const int value = kDecodeTable[static_cast<unsigned char>(text[group + i])];
      if (value == kNotBase64) return std::nullopt;
      bits = (bits << 6) | static_cast<unsigned>(value);
    }
    bits <<= 6 * padding;
    out += static_cast<char>((bits >> 16) & 0xff);
    if (padding < 2) out += static_cast<char>((bits >> 8) & 0xff);
    if (padding < 1) out += static_cast<char>(bits & 0xff);
  }
  return out;
}

std::optional<SaslCredentials> parse_plain_message(std::string_view message) {
  const size_t first = message.find('\0');
  if (first == std::string_view::npos) return std::nullopt;
  const size_t second = message.find('\0', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  const std::string_view authzid = message.substr(0, first);
  const std::string_view authcid = message.substr(first + 1, second - first - 1);
  const std::string_view password = message.substr(second + 1);
  if (authcid.empty() || password.find('\0') != std::string_view::npos) return std::nullopt;
  if (!authzid.empty() && authzid != authcid) return std::nullopt;
  return SaslCredentials{std::string(authcid), std::string(password)};
}

}  // namespace herald
