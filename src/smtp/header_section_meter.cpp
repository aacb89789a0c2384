#include "smtp/header_section_meter.h"

#include <cstring>

namespace herald {
namespace {

constexpr std::string_view kReceived = "received";
constexpr std::string_view kDeliveredTo = "delivered-to";
// A name longer than the longest counted one is none of them: no need to keep it.
constexpr size_t kLongestCounted = kDeliveredTo.size();

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

void HeaderSectionMeter::feed(std::string_view content) {
  size_t i = 0;
  while (i < content.size() && place_ != Place::ended) {
    if (place_ == Place::rest_of_line) {
      // Most of a header is field bodies: skip to the line's end in one step.
      const void* lf = std::memchr(content.data() + i, '\n', content.size() - i);
      const size_t end = lf ? static_cast<const char*>(lf) - content.data() + 1 : content.size();
      header_size_ += end - i;
      i = end;
      if (lf) place_ = Place::line_start;
      continue;
    }
    const char c = content[i++];
    ++header_size_;
    switch (place_) {
      case Place::line_start:
        if (c == '\r') {
          place_ = Place::after_empty_cr;
        } else if (c == ' ' || c == '\t' || c == '\n') {
          place_ = c == '\n' ? Place::line_start : Place::rest_of_line;  // a folded line
        } else {
          name_.assign(1, lower(c));
          place_ = Place::field_name;
        }
        break;
      case Place::field_name:
        if (c == ':' || c == ' ' || c == '\t') {
          end_field_name();
          place_ = Place::rest_of_line;
        } else if (c == '\n') {
          place_ = Place::line_start;
        } else if (name_.size() <= kLongestCounted) {
          name_ += lower(c);
        }
        break;
      case Place::after_empty_cr:
        // RFC 5322 2.1: the empty line ends the header section; its octets are not counted.
        if (c == '\n') {
          header_size_ -= 2;
          place_ = Place::ended;
        } else {
          place_ = Place::rest_of_line;
        }
        break;
      case Place::rest_of_line:
      case Place::ended:
        break;
    }
  }
}

void HeaderSectionMeter::end_field_name() {
  if (name_ == kReceived || name_ == kDeliveredTo) ++trace_fields_;
}

}  // namespace herald
