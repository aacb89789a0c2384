// Shared by the DKIM and ARC tests: conformance files read as CRLF text, a synchronous
// wrapper around the asynchronous verifier (MemoryResolver answers before lookup_txt
// returns), and running dkimpy.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "auth/dkim_verify.h"
#include "support/run_python.h"

namespace herald {
inline void PrintTo(DkimResult result, std::ostream* out) {
  *out << to_string(result);
}
}  // namespace herald

namespace herald::test_support {

inline std::string conformance_path(const std::string& relative) {
  return std::string(HERALD_CONFORMANCE_DIR) + "/" + relative;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot read " << path;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Conformance README 0.3: LF becomes CRLF; an existing CRLF is kept as it is.
inline std::string to_crlf(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out += '\r';
    out += text[i];
  }
  return out;
}

inline std::string read_message(const std::string& relative) {
  return to_crlf(read_file(conformance_path(relative)));
}

inline std::vector<DkimVerdict> verify_now(DkimVerifier& verifier, const std::string& message) {
  std::vector<DkimVerdict> verdicts;
  bool called = false;
  verifier.verify(MessageContent::from_text(message), [&](std::vector<DkimVerdict> result) {
    verdicts = std::move(result);
    called = true;
  });
  EXPECT_TRUE(called) << "the memory resolver answers synchronously";
  return verdicts;
}

// One record's text, as a zone file or .dns file holds it: line breaks removed.
inline std::string record_text(std::string text) {
  std::string out;
  for (char c : text)
    if (c != '\r' && c != '\n') out += c;
  return out;
}

inline void write(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

}  // namespace herald::test_support
