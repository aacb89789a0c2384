// herald hash-password and herald dkim keygen: the secrets an operator makes for
// herald.toml ([[user]] password_hash, [[dkim]] key files).
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

#include "auth/dkim_keygen.h"
#include "directory/password_hash.h"
#include "herald_commands.h"
#include "util/ascii.h"

namespace herald {
namespace {

// One line of stdin without its line ending; on a terminal, without echo, after `prompt`.
std::string read_password_line(bool terminal, const char* prompt) {
  termios saved{};
  if (terminal) {
    std::cerr << prompt << std::flush;
    tcgetattr(STDIN_FILENO, &saved);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (terminal) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    std::cerr << "\n";
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

// On a terminal the password is asked twice, so that a typo does not lock the user out.
int run_hash_password(const std::string& scheme_name) {
  const PasswordScheme scheme = *password_scheme_from_name(scheme_name);
  const bool terminal = isatty(STDIN_FILENO) != 0;
  const std::string password = read_password_line(terminal, "Password: ");
  if (password.empty()) {
    std::cerr << "herald: empty password; nothing to hash\n";
    return kExitUsage;
  }
  if (terminal && read_password_line(terminal, "Again: ") != password) {
    std::cerr << "herald: the passwords differ\n";
    return kExitUsage;
  }
  const std::optional<std::string> hash = make_password_hash(password, scheme);
  if (!hash) {
    std::cerr << "herald: libcrypt could not make a " << scheme_name << " hash\n";
    return kExitNotFound;
  }
  std::cout << *hash << "\n";
  return 0;
}

int run_dkim_keygen(const std::string& domain, const std::string& selector,
                    const std::string& algorithm, const std::filesystem::path& key_out) {
  const DkimKeyPair pair = generate_dkim_key(
      algorithm == "ed25519" ? DkimKeyRecord::KeyType::ed25519 : DkimKeyRecord::KeyType::rsa);
  const int fd = ::open(key_out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::cerr << "herald: cannot create " << key_out.string() << ": " << std::strerror(errno)
              << " (an existing key file is never overwritten)\n";
    return kExitNotFound;
  }
  const std::string& pem = pair.private_key_pem;
  const bool written = ::write(fd, pem.data(), pem.size()) == static_cast<ssize_t>(pem.size());
  if (::close(fd) != 0 || !written) {
    std::cerr << "herald: cannot write " << key_out.string() << ": " << std::strerror(errno)
              << "\n";
    return kExitNotFound;
  }
  std::cout << dkim_zone_line(ascii_lower(domain), ascii_lower(selector), pair.key_record) << "\n";
  return 0;
}

}  // namespace herald
