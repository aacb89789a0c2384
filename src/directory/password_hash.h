// crypt(3) password hashes, the form /etc/shadow and Dovecot use (DESIGN.md section 6):
// checking a password against a stored hash, and making a new hash for the configuration.
// Both are deliberately slow (yescrypt, bcrypt): call them off the io threads.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace herald {

enum class PasswordScheme { yescrypt, sha512crypt, bcrypt };

// "yescrypt", "sha512crypt", "bcrypt"; nullopt for anything else.
std::optional<PasswordScheme> password_scheme_from_name(std::string_view name);

// True when crypt(3) of `password` with the salt and scheme of `hash` gives `hash` again.
// The comparison takes the same time wherever the first difference is. An empty or
// malformed hash matches no password. Thread-safe (crypt_r).
bool password_matches(std::string_view hash, std::string_view password);

// A new hash of `password` with a fresh random salt, or nullopt when libcrypt cannot make
// one (no randomness, scheme not built in). Thread-safe.
std::optional<std::string> make_password_hash(std::string_view password, PasswordScheme scheme);

// A hash with the scheme, cost and salt of `like` (a crypt(3) hash) of a random password that
// nobody knows: checking any password against it costs what checking against `like` costs,
// and never matches. For an empty or unusable `like`, a yescrypt hash at libcrypt's default
// cost. Runs crypt(3) once. Thread-safe.
std::string dummy_password_hash(std::string_view like);

}  // namespace herald
