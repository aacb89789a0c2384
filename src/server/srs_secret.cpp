#include "server/srs_secret.h"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "util/atomic_file.h"

namespace herald {
namespace {

constexpr size_t kGeneratedOctets = 32;

std::string trimmed(const std::string& text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

std::string read_secret(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read the SRS secret " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return trimmed(text.str());
}

std::string generate_secret(const std::filesystem::path& path) {
  unsigned char octets[kGeneratedOctets];
  if (RAND_bytes(octets, sizeof octets) != 1)
    throw std::runtime_error("cannot draw random octets for the SRS secret");
  std::string hex;
  for (unsigned char octet : octets) hex += fmt::format("{:02x}", octet);
  write_file_atomically(path, hex + "\n", 0600);
  spdlog::info("srs generated a secret in {}", path.string());
  return hex;
}

}  // namespace

std::string load_srs_secret(const Config& config) {
  const SrsConfig& srs = config.srs;
  if (!srs.secret.empty()) return srs.secret;
  if (!srs.secret_file.empty()) {
    std::string secret = read_secret(srs.secret_file);
    if (secret.empty()) {
      throw ConfigError(config.source.filename().string() + ": [srs] secret_file " +
                        srs.secret_file.string() + " is empty");
    }
    return secret;
  }
  const std::filesystem::path generated = config.server.data_dir / "srs.secret";
  if (std::filesystem::exists(generated)) {
    std::string secret = read_secret(generated);
    if (!secret.empty()) return secret;
  }
  return generate_secret(generated);
}

}  // namespace herald
