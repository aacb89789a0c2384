#include "auth/dmarc_record.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>

#include "util/ascii.h"

namespace herald {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(separator, start);
    parts.push_back(trim(text.substr(start, end - start)));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

std::optional<DmarcPolicy> policy_of(std::string_view value) {
  const std::string v = ascii_lower(value);
  if (v == "none") return DmarcPolicy::none;
  if (v == "quarantine") return DmarcPolicy::quarantine;
  if (v == "reject") return DmarcPolicy::reject;
  return std::nullopt;
}

std::optional<DmarcAlignment> alignment_of(std::string_view value) {
  const std::string v = ascii_lower(value);
  if (v == "r") return DmarcAlignment::relaxed;
  if (v == "s") return DmarcAlignment::strict;
  return std::nullopt;
}

template <class Number>
std::optional<Number> number_of(std::string_view value) {
  Number n{};
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || error != std::errc() || end != value.data() + value.size()) {
    return std::nullopt;
  }
  return n;
}

// RFC 7489 6.4: dmarc-uri = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]; a URI has a
// scheme (ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )) and something after its colon.
bool is_report_uri(std::string_view uri) {
  const size_t bang = uri.rfind('!');
  if (bang != std::string_view::npos) {
    std::string_view size = uri.substr(bang + 1);
    if (!size.empty() && std::string_view("kmgtKMGT").find(size.back()) != std::string_view::npos)
      size.remove_suffix(1);
    if (!number_of<uint64_t>(size)) return false;
    uri = uri.substr(0, bang);
  }
  const size_t colon = uri.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == uri.size()) return false;
  if (!std::isalpha(static_cast<unsigned char>(uri[0]))) return false;
  return std::all_of(uri.begin(), uri.begin() + colon, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
  });
}

std::vector<std::string> report_uris(std::string_view value, std::string_view tag,
                                     std::vector<std::string>& ignored) {
  std::vector<std::string> uris;
  for (std::string_view uri : split(value, ',')) {
    if (is_report_uri(uri)) {
      uris.emplace_back(uri);
    } else {
      ignored.push_back(std::string(tag) + ": '" + std::string(uri) + "' is not a URI");
    }
  }
  return uris;
}

// RFC 7489 6.3 fo=: a colon-separated list of 0, 1, d, s.
bool is_failure_options(std::string_view value) {
  const auto options = split(value, ':');
  return std::all_of(options.begin(), options.end(), [](std::string_view o) {
    return o == "0" || o == "1" || o == "d" || o == "s";
  });
}

}  // namespace

std::string_view to_string(DmarcPolicy policy) {
  switch (policy) {
    case DmarcPolicy::none:
      return "none";
    case DmarcPolicy::quarantine:
      return "quarantine";
    case DmarcPolicy::reject:
      return "reject";
  }
  return "none";
}

bool is_dmarc_record(std::string_view text) {
  const auto tags = split(text, ';');
  const std::string_view first = tags.front();
  const size_t equals = first.find('=');
  return equals != std::string_view::npos && trim(first.substr(0, equals)) == "v" &&
         trim(first.substr(equals + 1)) == "DMARC1";
}

DmarcParse parse_dmarc_record(std::string_view text) {
  if (!is_dmarc_record(text)) return {std::nullopt, "the record does not start with v=DMARC1"};
  std::map<std::string, std::string_view> tags;
  for (std::string_view part : split(text, ';')) {
    if (part.empty()) continue;  // RFC 6376 3.2: a final ";" is allowed
    const size_t equals = part.find('=');
    if (equals == std::string_view::npos) {
      return {std::nullopt, "'" + std::string(part) + "' is not tag=value"};
    }
    const std::string tag = ascii_lower(trim(part.substr(0, equals)));
    if (!tags.emplace(tag, trim(part.substr(equals + 1))).second) {
      return {std::nullopt, "tag '" + tag + "' appears twice"};
    }
  }

  DmarcRecord r;
  const auto value = [&](const char* tag) -> std::optional<std::string_view> {
    const auto it = tags.find(tag);
    if (it == tags.end()) return std::nullopt;
    return it->second;
  };
  if (auto v = value("rua")) r.aggregate_reports = report_uris(*v, "rua", r.ignored);
  if (auto v = value("ruf")) r.failure_reports = report_uris(*v, "ruf", r.ignored);

  // RFC 7489 6.6.3 step 6: without a usable p= (or with an unusable sp=), a record that asks
  // for aggregate reports is treated as p=none; any other is no DMARC record at all.
  const std::optional<DmarcPolicy> p = value("p") ? policy_of(*value("p")) : std::nullopt;
  const bool sp_given = value("sp").has_value();
  const std::optional<DmarcPolicy> sp = sp_given ? policy_of(*value("sp")) : std::nullopt;
  if (!p || (sp_given && !sp)) {
    const std::string why = !p ? "no valid p= tag" : "an invalid sp= tag";
    if (r.aggregate_reports.empty()) return {std::nullopt, "the record has " + why};
    r.ignored.push_back(why + ": read as p=none, as rua= is given (RFC 7489 6.6.3)");
    r.policy = DmarcPolicy::none;
  } else {
    r.policy = *p;
    r.subdomain_policy = sp;
  }

  if (auto v = value("adkim")) {
    if (auto a = alignment_of(*v))
      r.dkim_alignment = *a;
    else
      r.ignored.push_back("adkim: '" + std::string(*v) + "' is not r or s");
  }
  if (auto v = value("aspf")) {
    if (auto a = alignment_of(*v))
      r.spf_alignment = *a;
    else
      r.ignored.push_back("aspf: '" + std::string(*v) + "' is not r or s");
  }
  if (auto v = value("pct")) {
    const auto n = number_of<unsigned>(*v);
    if (n && *n <= 100)
      r.percent = *n;
    else
      r.ignored.push_back("pct: '" + std::string(*v) + "' is not 0 to 100");
  }
  if (auto v = value("fo")) {
    if (is_failure_options(*v))
      r.failure_options = std::string(*v);
    else
      r.ignored.push_back("fo: '" + std::string(*v) + "' is not a list of 0, 1, d, s");
  }
  if (auto v = value("ri")) {
    if (auto n = number_of<uint32_t>(*v))
      r.report_interval = *n;
    else
      r.ignored.push_back("ri: '" + std::string(*v) + "' is not a number of seconds");
  }
  return {std::move(r), ""};
}

}  // namespace herald
