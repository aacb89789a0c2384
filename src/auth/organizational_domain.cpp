#include "auth/organizational_domain.h"

#include <libpsl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <stdexcept>

#include "util/ascii.h"

namespace herald {
namespace {

struct PslFree {
  void operator()(psl_ctx_t* psl) const { psl_free(psl); }
};

// Debian's list file when it can be read (kept current by the publicsuffix package), else
// the copy libpsl was built with.
const psl_ctx_t* public_suffix_list() {
  static const std::unique_ptr<psl_ctx_t, PslFree> latest(psl_latest(nullptr));
  if (latest) return latest.get();
  const psl_ctx_t* builtin = psl_builtin();
  if (builtin == nullptr) throw std::runtime_error("no Public Suffix List could be loaded");
  return builtin;
}

std::string normalized(std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  return ascii_lower(domain);
}

}  // namespace

std::optional<std::string> registrable_domain(std::string_view domain) {
  const std::string name = normalized(domain);
  if (name.empty() || name.front() == '.') return std::nullopt;
  // libpsl compares UTF-8 labels in lower case; ASCII lower-casing above leaves non-ASCII
  // letters as given, so let libpsl lower those too.
  char* lower = nullptr;
  if (psl_str_to_utf8lower(name.c_str(), "utf-8", nullptr, &lower) != PSL_SUCCESS) {
    return std::nullopt;
  }
  const std::unique_ptr<char, decltype(&psl_free_string)> owned(lower, &psl_free_string);
  const char* registrable = psl_registrable_domain(public_suffix_list(), lower);
  if (registrable == nullptr) return std::nullopt;
  return std::string(registrable);
}

std::string organizational_domain(std::string_view domain) {
  return registrable_domain(domain).value_or(normalized(domain));
}

}  // namespace herald
