#include "server/tls_context.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <boost/asio/ssl/context.hpp>
#include <fstream>
#include <sstream>

namespace herald {
namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class TlsFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() / ("herald-tls-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    config_.server.hostname = "mx.example.test";
    config_.server.data_dir = dir_;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  Config config_;
};

TEST_F(TlsFilesTest, WithoutConfiguredFilesAPairIsGeneratedInDataDir) {
  const TlsFiles files = ensure_tls_files(config_);
  EXPECT_EQ(files.cert, dir_ / "tls" / "cert.pem");
  EXPECT_EQ(files.key, dir_ / "tls" / "key.pem");
  struct stat key_stat {};
  ASSERT_EQ(::stat(files.key.c_str(), &key_stat), 0);
  EXPECT_EQ(key_stat.st_mode & 0777, 0600u);
}

TEST_F(TlsFilesTest, GeneratedCertificateNamesTheHostInCnAndSan) {
  const TlsFiles files = ensure_tls_files(config_);
  FILE* file = std::fopen(files.cert.c_str(), "r");
  ASSERT_NE(file, nullptr);
  X509* cert = PEM_read_X509(file, nullptr, nullptr, nullptr);
  std::fclose(file);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(X509_check_host(cert, "mx.example.test", 0, 0, nullptr), 1);
  char cn[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  EXPECT_STREQ(cn, "mx.example.test");
  // Valid for about ten years.
  int days = 0, seconds = 0;
  ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(cert), X509_get0_notAfter(cert));
  EXPECT_GE(days, 3640);
  X509_free(cert);
}

TEST_F(TlsFilesTest, SecondStartReusesThePair) {
  const TlsFiles first = ensure_tls_files(config_);
  const std::string cert = read_file(first.cert);
  const std::string key = read_file(first.key);
  const TlsFiles second = ensure_tls_files(config_);
  EXPECT_EQ(read_file(second.cert), cert);
  EXPECT_EQ(read_file(second.key), key);
}

TEST_F(TlsFilesTest, ConfiguredFilesAreUsedAsTheyAre) {
  config_.tls.cert = "/etc/herald/cert.pem";
  config_.tls.key = "/etc/herald/key.pem";
  const TlsFiles files = ensure_tls_files(config_);
  EXPECT_EQ(files.cert, "/etc/herald/cert.pem");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "tls"));
}

TEST_F(TlsFilesTest, ContextLoadsTheGeneratedPair) {
  const auto context = make_server_tls_context(ensure_tls_files(config_));
  ASSERT_NE(context, nullptr);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(context->native_handle()), TLS1_2_VERSION);
}

TEST_F(TlsFilesTest, MissingFilesAreReportedByName) {
  try {
    make_server_tls_context(TlsFiles{dir_ / "none.pem", dir_ / "none.key"});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("none.pem"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace herald
