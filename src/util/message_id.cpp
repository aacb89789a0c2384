#include "util/message_id.h"

#include <array>
#include <cstdint>
#include <random>

namespace herald {
namespace {

constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr size_t kLength = 26;

std::mt19937_64& thread_generator() {
  thread_local std::mt19937_64 gen = [] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }();
  return gen;
}

// 16 bytes, big-endian: 48 bits of time, then 80 random bits (`high`, then `low`), as
// 26 characters.
std::string encode(uint64_t ms, uint16_t high, uint64_t low) {
  std::array<uint8_t, 16> bytes{};
  for (int i = 0; i < 6; ++i) bytes[i] = static_cast<uint8_t>(ms >> (8 * (5 - i)));
  bytes[6] = static_cast<uint8_t>(high >> 8);
  bytes[7] = static_cast<uint8_t>(high);
  for (int i = 0; i < 8; ++i) bytes[8 + i] = static_cast<uint8_t>(low >> (8 * (7 - i)));

  // 26 characters carry 130 bits: read the 128 bits 5 at a time, as if 2 zero bits led.
  std::string id(kLength, '0');
  for (size_t i = 0; i < kLength; ++i) {
    unsigned value = 0;
    for (size_t b = 0; b < 5; ++b) {
      const size_t bit = i * 5 + b;  // position in the 130-bit string
      if (bit < 2) continue;
      const size_t pos = bit - 2;
      value = (value << 1) | ((bytes[pos / 8] >> (7 - pos % 8)) & 1u);
    }
    id[i] = kAlphabet[value];
  }
  return id;
}

}  // namespace

std::string new_message_id(TimePoint now) {
  return encode(static_cast<uint64_t>(to_unix_ms(now)), static_cast<uint16_t>(thread_generator()()),
                thread_generator()());
}

std::string MessageIdSequence::next(TimePoint now) {
  const auto ms = static_cast<uint64_t>(to_unix_ms(now));
  std::lock_guard lock(mutex_);
  if (ms > last_ms_) {
    last_ms_ = ms;
    high_ = static_cast<uint16_t>(thread_generator()() >> 1);  // room to count up from
    low_ = thread_generator()();
  } else if (++low_ == 0) {
    ++high_;  // 2^80 ids in one millisecond never come; the carry is for correctness
  }
  return encode(last_ms_, high_, low_);
}

bool is_message_id(std::string_view id) {
  if (id.size() != kLength || id[0] > '7') return false;
  for (char c : id) {
    if (kAlphabet.find(c) == std::string_view::npos) return false;
  }
  return true;
}

}  // namespace herald
