#include "auth/dkim_body_hash.h"

#include <algorithm>

namespace herald {
namespace {

constexpr size_t kBuffer = 64 * 1024;
constexpr std::string_view kCrlf = "\r\n";

}  // namespace

DkimBodyHashKey DkimBodyHashKey::of(const DkimSignature& signature) {
  return DkimBodyHashKey{signature.body_canonicalization,
                         signature.algorithm == DkimAlgorithm::rsa_sha1 ? DkimBodyDigest::sha1
                                                                        : DkimBodyDigest::sha256,
                         signature.body_length};
}

DkimBodyHasher::DkimBodyHasher(DkimCanonicalization canonicalization)
    : canonicalization_(canonicalization) {}

void DkimBodyHasher::add(const DkimBodyHashKey& key) {
  const DkimAlgorithm algorithm =
      key.digest == DkimBodyDigest::sha1 ? DkimAlgorithm::rsa_sha1 : DkimAlgorithm::rsa_sha256;
  targets_.push_back(Target{key, DkimDigestStream(algorithm), key.length});
}

void DkimBodyHasher::update(std::string_view piece) {
  if (canonicalization_ == DkimCanonicalization::simple) {
    update_simple(piece);
  } else {
    update_relaxed(piece);
  }
}

// RFC 6376 3.4.3: the body as it is, less the empty lines at its end, ending in one CRLF.
// Every CRLF is held back (counted) until an octet that is not part of one follows; the
// octets between are fed as views of the piece.
void DkimBodyHasher::update_simple(std::string_view piece) {
  if (piece.empty()) return;
  if (pending_cr_) {
    pending_cr_ = false;
    if (piece.front() == '\n') {
      ++held_lines_;
      piece.remove_prefix(1);
    } else {
      release_held_lines();
      emit("\r");
    }
  }
  if (piece.ends_with('\r')) {
    pending_cr_ = true;
    piece.remove_suffix(1);
  }
  // CRLFs cannot overlap, so those at the end of the piece are line ends; the body may end
  // with them.
  size_t content_end = piece.size();
  uint64_t trailing = 0;
  while (content_end >= 2 && piece.substr(content_end - 2, 2) == kCrlf) {
    content_end -= 2;
    ++trailing;
  }
  if (content_end == 0) {
    held_lines_ += trailing;
    return;
  }
  release_held_lines();
  emit(piece.substr(0, content_end));
  held_lines_ = trailing;
}

// RFC 6376 3.4.4, a state machine over the octets: WSP only marks a space to come, written
// before the next other octet of the line (so runs become one SP and WSP at a line's end
// goes); a line with no other octet is empty and held back with the CRLFs before it.
void DkimBodyHasher::update_relaxed(std::string_view piece) {
  size_t i = 0;
  while (i < piece.size()) {
    const char c = piece[i];
    if (pending_cr_) {
      pending_cr_ = false;
      if (c == '\n') {
        end_relaxed_line();
        ++i;
        continue;
      }
      relaxed_content("\r");  // a CR not before LF is an ordinary octet of the line
      continue;
    }
    if (c == '\r') {
      pending_cr_ = true;
      ++i;
    } else if (c == ' ' || c == '\t') {
      pending_space_ = true;
      ++i;
    } else {
      // A run of ordinary octets (a bare LF included) goes out as one view.
      const size_t end = std::min(piece.find_first_of(" \t\r", i), piece.size());
      relaxed_content(piece.substr(i, end - i));
      i = end;
    }
  }
}

void DkimBodyHasher::relaxed_content(std::string_view text) {
  // The empty lines held back were not the end of the body after all.
  release_held_lines();
  if (pending_space_) emit(" ");
  pending_space_ = false;
  line_has_content_ = true;
  emit(text);
}

void DkimBodyHasher::end_relaxed_line() {
  if (line_has_content_) {
    emit(kCrlf);
  } else {
    ++held_lines_;
  }
  line_has_content_ = false;
  pending_space_ = false;
}

void DkimBodyHasher::release_held_lines() {
  for (; held_lines_ > 0; --held_lines_) emit(kCrlf);
}

std::map<DkimBodyHashKey, std::optional<std::string>> DkimBodyHasher::finish() {
  // A CR at the very end starts no CRLF: it is an octet of the last line.
  if (canonicalization_ == DkimCanonicalization::simple) {
    if (pending_cr_) {
      release_held_lines();
      emit("\r");
    }
    // What was fed ends in an octet that is not part of a CRLF (or nothing was fed): the
    // body ends in one CRLF, and an empty body is one CRLF (RFC 6376 3.4.3). The CRLFs still
    // held are the empty lines at the end, dropped.
    emit(kCrlf);
  } else {
    if (pending_cr_) relaxed_content("\r");
    // A last line without CRLF gets one, as canonicalize_body gives it; an empty body stays
    // empty (RFC 6376 3.4.4), and the empty lines still held are dropped.
    if (line_has_content_) emit(kCrlf);
  }
  pending_cr_ = false;
  flush();
  std::map<DkimBodyHashKey, std::optional<std::string>> hashes;
  for (Target& target : targets_) {
    std::optional<std::string>& hash = hashes[target.key];
    if (!target.key.length || *target.key.length <= size_) hash = target.stream.finish();
  }
  return hashes;
}

void DkimBodyHasher::emit(std::string_view data) {
  if (data.size() >= kBuffer) {
    flush();
    feed(data);
    return;
  }
  buffer_.append(data);
  if (buffer_.size() >= kBuffer) flush();
}

void DkimBodyHasher::flush() {
  feed(buffer_);
  buffer_.clear();
}

void DkimBodyHasher::feed(std::string_view data) {
  size_ += data.size();
  for (Target& target : targets_) {
    if (!target.remaining) {
      target.stream.update(data);
      continue;
    }
    const uint64_t taken = std::min<uint64_t>(*target.remaining, data.size());
    target.stream.update(data.substr(0, taken));
    *target.remaining -= taken;
  }
}

std::optional<std::string> dkim_body_hash(const MessageBody& body, const DkimBodyHashKey& key) {
  DkimBodyHasher hasher(key.canonicalization);
  hasher.add(key);
  const size_t count = body.piece_count();
  for (size_t i = 0; i < count; ++i) hasher.update(body.piece(i));
  return hasher.finish().at(key);
}

}  // namespace herald
