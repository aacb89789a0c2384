// A deliberately small reader for multipart/report messages, for tests: it splits a message
// into its parts and a delivery-status body into its field groups, the way the conformance
// samples (shared/conformance/mimekit/messages/delivery-status*.txt) are laid out, so that
// herald's own reports and those samples are read by the same code.
#pragma once

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald::test_support {

using Fields = std::vector<std::pair<std::string, std::string>>;

struct ReportPart {
  Fields headers;
  std::string body;
};

inline std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Lines without their line ends; accepts CRLF and LF.
inline std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string line(text.substr(start, end - start));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = end + 1;
  }
  return lines;
}

// Header fields, unfolded, up to the first empty line; `consumed` gets how many lines that
// took (the empty line included).
inline Fields read_fields(const std::vector<std::string>& lines, size_t from, size_t* consumed) {
  Fields fields;
  size_t i = from;
  for (; i < lines.size() && !lines[i].empty(); ++i) {
    if ((lines[i][0] == ' ' || lines[i][0] == '\t') && !fields.empty()) {
      fields.back().second += lines[i];
      continue;
    }
    const size_t colon = lines[i].find(':');
    std::string value = colon == std::string::npos ? "" : lines[i].substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    fields.emplace_back(lines[i].substr(0, colon), value);
  }
  if (consumed != nullptr) *consumed = i - from + (i < lines.size() ? 1 : 0);
  return fields;
}

inline std::string field(const Fields& fields, std::string_view name) {
  for (const auto& [key, value] : fields) {
    if (lower(key) == lower(name)) return value;
  }
  return "";
}

// The boundary parameter of a Content-Type value, quoted or not.
inline std::string boundary_of(const std::string& content_type) {
  const size_t at = lower(content_type).find("boundary=");
  if (at == std::string::npos) return "";
  std::string rest = content_type.substr(at + 9);
  if (!rest.empty() && rest[0] == '"') return rest.substr(1, rest.find('"', 1) - 1);
  return rest.substr(0, rest.find_first_of("; \t"));
}

// The parts of a multipart message, each with its own header fields and body (lines
// joined by LF).
inline std::vector<ReportPart> parts_of(std::string_view message) {
  const std::vector<std::string> lines = lines_of(message);
  size_t header_lines = 0;
  const std::string boundary =
      boundary_of(field(read_fields(lines, 0, &header_lines), "Content-Type"));
  std::vector<ReportPart> parts;
  std::vector<std::string> current;
  bool inside = false;
  auto finish = [&] {
    if (!inside) return;
    size_t consumed = 0;
    ReportPart part;
    part.headers = read_fields(current, 0, &consumed);
    // RFC 2046 5.1.1: the line break before a delimiter belongs to the delimiter.
    for (size_t i = consumed; i < current.size(); ++i) {
      if (i > consumed) part.body += "\n";
      part.body += current[i];
    }
    parts.push_back(std::move(part));
  };
  for (size_t i = header_lines; i < lines.size(); ++i) {
    if (lines[i] == "--" + boundary || lines[i] == "--" + boundary + "--") {
      finish();
      current.clear();
      inside = lines[i] == "--" + boundary;
      continue;
    }
    current.push_back(lines[i]);
  }
  finish();  // like lenient parsers, accept a last part without its closing delimiter
  return parts;
}

// The field groups of a delivery-status body (RFC 3464 2.1): the per-message group, then one
// per recipient, separated by one or more empty lines.
inline std::vector<Fields> field_groups(std::string_view body) {
  const std::vector<std::string> lines = lines_of(body);
  std::vector<Fields> groups;
  size_t i = 0;
  while (i < lines.size()) {
    if (lines[i].empty()) {
      ++i;
      continue;
    }
    size_t consumed = 0;
    groups.push_back(read_fields(lines, i, &consumed));
    i += consumed;
  }
  return groups;
}

inline const ReportPart* part_of_type(const std::vector<ReportPart>& parts, std::string_view type) {
  for (const ReportPart& part : parts) {
    if (lower(field(part.headers, "Content-Type")).starts_with(lower(type))) return &part;
  }
  return nullptr;
}

}  // namespace herald::test_support
