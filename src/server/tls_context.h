// The TLS identity heraldd presents on STARTTLS: the [tls] certificate and key, or, when
// none is configured, a self-signed pair made on first start and kept in data_dir/tls.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "config/config.h"

namespace boost::asio::ssl {
class context;
}

namespace herald {

struct TlsFiles {
  std::filesystem::path cert;  // PEM chain, leaf first
  std::filesystem::path key;   // PEM private key
};

// The configured pair, or data_dir/tls/{cert,key}.pem, generated when absent: an EC P-256
// key (file mode 0600) and a certificate for server.hostname (CN and subjectAltName),
// valid for 10 years. Throws std::runtime_error saying which file could not be written.
TlsFiles ensure_tls_files(const Config& config);

// A server context with those files: TLS 1.2 at least, forward-secret AEAD ciphers for
// TLS 1.2, no renegotiation. Throws std::runtime_error naming the file that failed to load.
std::unique_ptr<boost::asio::ssl::context> make_server_tls_context(const TlsFiles& files);

}  // namespace herald
