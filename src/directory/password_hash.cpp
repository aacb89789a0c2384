#include "directory/password_hash.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstring>
#include <memory>
#include <stdexcept>

namespace herald {
namespace {

// crypt_r's work area is ~32 KiB: on the heap, not on a coroutine's or pool thread's stack.
std::unique_ptr<crypt_data> new_crypt_data() {
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  return data;
}

const char* prefix_of(PasswordScheme scheme) {
  switch (scheme) {
    case PasswordScheme::yescrypt:
      return "$y$";
    case PasswordScheme::sha512crypt:
      return "$6$";
    case PasswordScheme::bcrypt:
      return "$2b$";
  }
  return "$y$";
}

}  // namespace

std::optional<PasswordScheme> password_scheme_from_name(std::string_view name) {
  if (name == "yescrypt") return PasswordScheme::yescrypt;
  if (name == "sha512crypt") return PasswordScheme::sha512crypt;
  if (name == "bcrypt") return PasswordScheme::bcrypt;
  return std::nullopt;
}

bool password_matches(std::string_view hash, std::string_view password) {
  // A hash or password with a NUL cannot pass through crypt(3)'s C strings intact.
  if (hash.empty() || hash.find('\0') != std::string_view::npos ||
      password.find('\0') != std::string_view::npos) {
    return false;
  }
  const std::string setting(hash);
  const std::string phrase(password);
  const auto data = new_crypt_data();
  const char* computed = crypt_r(phrase.c_str(), setting.c_str(), data.get());
  // libxcrypt answers an unusable setting with NULL or a string starting with '*'.
  if (computed == nullptr || computed[0] == '*') return false;
  const size_t length = std::strlen(computed);
  return length == setting.size() && CRYPTO_memcmp(computed, setting.data(), length) == 0;
}

std::optional<std::string> make_password_hash(std::string_view password, PasswordScheme scheme) {
  if (password.find('\0') != std::string_view::npos) return std::nullopt;
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  // Count 0 and no random bytes: libcrypt's default cost and salt from the OS's randomness.
  if (crypt_gensalt_rn(prefix_of(scheme), 0, nullptr, 0, salt, sizeof salt) == nullptr) {
    return std::nullopt;
  }
  const std::string phrase(password);
  const auto data = new_crypt_data();
  const char* hash = crypt_r(phrase.c_str(), salt, data.get());
  if (hash == nullptr || hash[0] == '*') return std::nullopt;
  return std::string(hash);
}

std::string dummy_password_hash(std::string_view like) {
  unsigned char random[24];
  if (RAND_bytes(random, sizeof random) != 1) throw std::runtime_error("no randomness for a hash");
  std::string phrase;
  for (const unsigned char c : random) phrase += static_cast<char>('!' + c % 90);
  if (!like.empty() && like.find('\0') == std::string_view::npos) {
    const std::string setting(like);
    const auto data = new_crypt_data();
    const char* hash = crypt_r(phrase.c_str(), setting.c_str(), data.get());
    if (hash != nullptr && hash[0] != '*') return hash;
  }
  return make_password_hash(phrase, PasswordScheme::yescrypt).value_or("");
}

}  // namespace herald
