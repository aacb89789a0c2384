// Running Debian's python3 (DESIGN.md section 9: it sees the python3-* packages) from a unit
// test, for interop checks against dkimpy, the email package and the like.
#pragma once

#include <stdio.h>

#include <string>

namespace herald::test_support {

// `arguments` as a shell would split them (the callers pass file paths they made); stdout
// and stderr together. Bounded: the interpreter is stopped after 60 seconds.
inline std::string run_python(const std::string& arguments) {
  const std::string command = "timeout 60 /usr/bin/python3 " + arguments + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return "popen failed";
  std::string out;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  ::pclose(pipe);
  return out;
}

}  // namespace herald::test_support
