// Measures a message's header section (RFC 5322 2.1: the fields up to the first empty line)
// while the content arrives, in pieces of any size: its size ([limits] max_header_size) and
// its trace fields, Received and Delivered-To ([limits] max_hops, RFC 5321 6.3). Counting as
// the octets pass means no second pass over the content; once the header section has ended,
// a piece costs nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace herald {

class HeaderSectionMeter {
 public:
  // The decoded content (dot-stuffing removed), in order.
  void feed(std::string_view content);

  bool header_ended() const { return place_ == Place::ended; }
  // Octets of the header section so far, line endings included.
  uint64_t header_size() const { return header_size_; }
  // Received and Delivered-To fields so far (names compared without case; white space
  // before the colon allowed, RFC 5322 4.5).
  uint32_t trace_fields() const { return trace_fields_; }

 private:
  enum class Place { line_start, field_name, rest_of_line, after_empty_cr, ended };

  void end_field_name();

  Place place_ = Place::line_start;
  std::string name_;  // the field name so far, lower case, at most kLongestCounted octets
  uint64_t header_size_ = 0;
  uint32_t trace_fields_ = 0;
};

}  // namespace herald
