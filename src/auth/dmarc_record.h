// DMARC policy records (RFC 7489 6.3), as published in TXT at _dmarc.<domain>: parsed into
// what the receiver acts on. Pure; the lookup and the evaluation live elsewhere.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald {

enum class DmarcPolicy { none, quarantine, reject };
enum class DmarcAlignment { relaxed, strict };

struct DmarcRecord {
  DmarcPolicy policy = DmarcPolicy::none;                   // p=
  std::optional<DmarcPolicy> subdomain_policy;              // sp=; absent: p= applies to subdomains
  DmarcAlignment dkim_alignment = DmarcAlignment::relaxed;  // adkim=
  DmarcAlignment spf_alignment = DmarcAlignment::relaxed;   // aspf=
  unsigned percent = 100;                                   // pct=, 0..100
  std::vector<std::string> aggregate_reports;               // rua= URIs, as written
  std::vector<std::string> failure_reports;                 // ruf= URIs
  std::string failure_options = "0";                        // fo=
  uint32_t report_interval = 86400;                         // ri=, seconds
  // Tags whose values were unusable and so took their defaults (RFC 7489 6.3 asks
  // receivers to carry on), each as "tag: why" — for the ledger and the operator.
  std::vector<std::string> ignored;
};

struct DmarcParse {
  std::optional<DmarcRecord> record;  // nullopt: no DMARC processing for this record
  std::string error;                  // why, when there is no record
};

// RFC 7489 6.6.3 step 3: a TXT record is a DMARC record only if it starts with "v=DMARC1"
// (after optional whitespace); others at _dmarc are not ours to judge.
bool is_dmarc_record(std::string_view text);

// Parses one record. Per RFC 7489 6.3 and 6.6.3: v=DMARC1 must come first; unknown tags are
// ignored; a missing or invalid p= (or an invalid sp=) is read as p=none when rua= has a
// valid URI, and otherwise gives no record; other invalid values take their defaults and
// are listed in `ignored`. A tag given twice is an error (RFC 6376 3.2 tag-list rules).
DmarcParse parse_dmarc_record(std::string_view text);

std::string_view to_string(DmarcPolicy policy);

}  // namespace herald
