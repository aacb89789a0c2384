#include "auth/dkim_canonical.h"

#include <cctype>
#include <unordered_map>

#include "util/ascii.h"

namespace herald {
namespace {

bool is_wsp(char c) {
  return c == ' ' || c == '\t';
}

std::string_view field_name(std::string_view raw) {
  std::string_view name = raw.substr(0, raw.find(':'));
  while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
  return name;
}

// RFC 6376 3.4.4 steps a and b for one line (without its CRLF): runs of WSP become one SP,
// WSP at the end goes.
void append_relaxed_line(std::string& out, std::string_view line) {
  bool pending_space = false;
  for (char c : line) {
    if (is_wsp(c)) {
      pending_space = true;
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
}

}  // namespace

DkimMessageParts split_dkim_message(std::string_view message) {
  DkimMessageParts parts;
  size_t pos = 0;
  size_t field_start = std::string_view::npos;
  const auto close_field = [&](size_t end) {
    if (field_start == std::string_view::npos) return;
    const std::string_view raw = message.substr(field_start, end - field_start);
    parts.headers.push_back({field_name(raw), raw});
    field_start = std::string_view::npos;
  };
  while (pos < message.size()) {
    auto eol = message.find("\r\n", pos);
    const size_t next = eol == std::string_view::npos ? message.size() : eol + 2;
    if (eol == pos) {  // the empty line: the body follows it
      close_field(pos);
      parts.body = message.substr(next);
      return parts;
    }
    // RFC 5322 2.2.3: a line starting with WSP continues the field above it.
    if (!is_wsp(message[pos]) || field_start == std::string_view::npos) {
      close_field(pos);
      field_start = pos;
    }
    pos = next;
  }
  close_field(message.size());
  return parts;
}

std::string canonicalize_header(const DkimHeaderField& field, DkimCanonicalization how) {
  // RFC 6376 3.4.1: simple changes nothing.
  if (how == DkimCanonicalization::simple) return std::string(field.raw);
  // RFC 6376 3.4.2: lower-case name; unfold; WSP runs to one SP; no WSP at the value's end
  // or around the colon.
  std::string out;
  out += ascii_lower(field.name);
  out += ':';
  std::string_view value = field.raw.substr(std::min(field.raw.find(':'), field.raw.size()));
  if (!value.empty()) value.remove_prefix(1);
  std::string unfolded;
  for (char c : value)
    if (c != '\r' && c != '\n') unfolded += c;
  std::string_view rest = unfolded;
  while (!rest.empty() && is_wsp(rest.front())) rest.remove_prefix(1);
  append_relaxed_line(out, rest);
  out += "\r\n";
  return out;
}

std::string canonicalize_body(std::string_view body, DkimCanonicalization how) {
  std::string out;
  if (how == DkimCanonicalization::simple) {
    out = body;
  } else {
    size_t pos = 0;
    while (pos < body.size()) {
      const auto eol = body.find("\r\n", pos);
      const auto line = body.substr(pos, eol == std::string_view::npos ? eol : eol - pos);
      append_relaxed_line(out, line);
      out += "\r\n";
      pos = eol == std::string_view::npos ? body.size() : eol + 2;
    }
  }
  // RFC 6376 3.4.3 / 3.4.4: empty lines at the end are ignored; the body ends in one CRLF.
  while (out.size() >= 2 && out.ends_with("\r\n\r\n")) out.resize(out.size() - 2);
  if (out == "\r\n") out.clear();
  if (!out.empty() && !out.ends_with("\r\n")) out += "\r\n";
  // RFC 6376 3.4.3: simple canonicalisation of an empty body is a single CRLF; relaxed
  // (3.4.4) leaves it empty.
  if (out.empty() && how == DkimCanonicalization::simple) out = "\r\n";
  return out;
}

std::string without_b_value(std::string_view raw_field) {
  std::string_view field = raw_field;
  std::string_view crlf;
  if (field.ends_with("\r\n")) {
    crlf = field.substr(field.size() - 2);
    field.remove_suffix(2);
  }
  std::string out;
  const size_t colon = field.find(':');
  if (colon == std::string_view::npos) return std::string(raw_field);
  out.append(field.substr(0, colon + 1));
  size_t pos = colon + 1;
  while (pos <= field.size()) {
    const size_t end = std::min(field.find(';', pos), field.size());
    const std::string_view spec = field.substr(pos, end - pos);
    const size_t equals = spec.find('=');
    std::string_view name = spec.substr(0, equals);
    while (!name.empty() && (is_wsp(name.front()) || name.front() == '\r' || name.front() == '\n'))
      name.remove_prefix(1);
    while (!name.empty() && (is_wsp(name.back()) || name.back() == '\r' || name.back() == '\n'))
      name.remove_suffix(1);
    if (name == "b" && equals != std::string_view::npos) {
      out.append(spec.substr(0, equals + 1));
    } else {
      out.append(spec);
    }
    if (end < field.size()) out += ';';
    pos = end + 1;
  }
  out.append(crlf);
  return out;
}

std::string dkim_header_hash_input(const std::vector<DkimHeaderField>& headers,
                                   const std::vector<std::string>& signed_headers,
                                   const DkimHeaderField& signature_field,
                                   DkimCanonicalization how) {
  // The fields of each name h= lists, top to bottom, taken from the back as h= uses them: one
  // walk over the header, where searching it for each h= entry would let a hostile h= of
  // many names over a header of many fields cost their product.
  std::unordered_map<std::string, std::vector<size_t>> unused;
  for (const std::string& name : signed_headers) unused.try_emplace(ascii_lower(name));
  for (size_t i = 0; i < headers.size(); ++i) {
    if (auto found = unused.find(ascii_lower(headers[i].name)); found != unused.end())
      found->second.push_back(i);
  }
  std::string out;
  for (const std::string& name : signed_headers) {
    // RFC 6376 5.4.2: several instances are signed from the bottom up.
    std::vector<size_t>& fields = unused.at(ascii_lower(name));
    if (fields.empty()) continue;
    out += canonicalize_header(headers[fields.back()], how);
    fields.pop_back();
  }
  out += canonicalize_signature_field(signature_field, how);
  return out;
}

std::string canonicalize_signature_field(const DkimHeaderField& signature_field,
                                         DkimCanonicalization how) {
  const std::string emptied = without_b_value(signature_field.raw);
  std::string canonical = canonicalize_header({signature_field.name, emptied}, how);
  // RFC 6376 3.7: the signature field is hashed without its trailing CRLF.
  if (canonical.ends_with("\r\n")) canonical.resize(canonical.size() - 2);
  return canonical;
}

}  // namespace herald
