// The tag=value list syntax of RFC 6376 3.2, shared by every field and record built on it:
// DKIM-Signature, the DKIM key record, and the ARC-Seal and ARC-Message-Signature fields of
// RFC 8617 4.1. Pure: no DNS, no clock.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace herald {

// A parse failure says which rule was broken, for the Authentication-Results reason.
struct DkimSyntaxError {
  std::string reason;
};

// Tags in the order written; names exactly as written (tag names are case-sensitive), values
// with the surrounding whitespace removed and inner FWS kept.
using DkimTagList = std::vector<std::pair<std::string, std::string>>;

// RFC 6376 3.2: tag-list = tag-spec *( ";" tag-spec ) [ ";" ]. Errors: a spec without "=",
// a bad tag name, a value character outside %x21-3A / %x3C-7E and FWS, a tag given twice.
std::variant<DkimTagList, DkimSyntaxError> parse_dkim_tag_list(std::string_view text);

// The value of tag `name`, or nullptr when absent. Points into `tags`.
const std::string* find_dkim_tag(const DkimTagList& tags, std::string_view name);

// A tag value split at `separator` (":" in h= and q=), each part with its FWS trimmed.
std::vector<std::string_view> split_dkim_tag_value(std::string_view value, char separator);

// The characters of FWS (RFC 5322 3.2.2) as they appear inside a field: SP, HTAB, CR, LF.
bool is_dkim_fws(char c);

}  // namespace herald
