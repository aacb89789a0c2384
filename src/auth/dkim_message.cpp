#include "auth/dkim_message.h"

#include <algorithm>
#include <vector>

#include "auth/dkim_crypto.h"

namespace herald {
namespace {

bool is_wsp(char c) {
  return c == ' ' || c == '\t';
}

// The digests fed one canonical body, each cut at its l=. Canonical bytes are gathered in a
// buffer first: relaxed canonicalisation produces them a character at a time, and one
// EVP_DigestUpdate per character and digest would cost more than the hashing.
class BodySink {
 public:
  void add(const DkimBodyHashKey& key) {
    const DkimAlgorithm algorithm =
        key.digest == DkimBodyDigest::sha1 ? DkimAlgorithm::rsa_sha1 : DkimAlgorithm::rsa_sha256;
    targets_.push_back(Target{key, DkimDigestStream(algorithm), key.length});
  }

  void emit(std::string_view data) {
    if (data.size() >= kBuffer) {
      flush();
      feed(data);
      return;
    }
    buffer_.append(data);
    if (buffer_.size() >= kBuffer) flush();
  }
  void emit(char c) {
    buffer_.push_back(c);
    if (buffer_.size() >= kBuffer) flush();
  }

  // The hashes, by key; nullopt for an l= beyond the canonical body.
  void finish(std::map<DkimBodyHashKey, std::optional<std::string>>& out) {
    flush();
    for (Target& target : targets_) {
      std::optional<std::string>& hash = out[target.key];
      if (target.key.length && *target.key.length > size_) {
        hash.reset();
      } else {
        hash = target.stream.finish();
      }
    }
  }

 private:
  static constexpr size_t kBuffer = 64 * 1024;

  struct Target {
    DkimBodyHashKey key;
    DkimDigestStream stream;
    std::optional<uint64_t> remaining;  // bytes still covered by l=
  };

  void flush() {
    feed(buffer_);
    buffer_.clear();
  }

  void feed(std::string_view data) {
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

  std::vector<Target> targets_;
  std::string buffer_;
  uint64_t size_ = 0;  // canonical bytes so far
};

// RFC 6376 3.4.3: the body as it is, without the empty lines at its end, ending in one CRLF;
// an empty body is one CRLF. Only views of the received bytes are fed.
void feed_simple(std::string_view body, BodySink& sink) {
  while (body.ends_with("\r\n\r\n")) body.remove_suffix(2);
  if (body == "\r\n") body = {};
  if (body.empty()) {
    sink.emit(std::string_view("\r\n"));
    return;
  }
  sink.emit(body);
  if (!body.ends_with("\r\n")) sink.emit(std::string_view("\r\n"));
}

// RFC 6376 3.4.4: in each line runs of WSP become one SP and WSP at the end goes; empty
// lines at the end of the body go (a line of only WSP is empty by then). An empty body stays
// empty. A last line without CRLF gets one, as the signer's canonicalize_body gives it.
void feed_relaxed(std::string_view body, BodySink& sink) {
  size_t empty_lines = 0;  // held back until a line with content shows they are not the end
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t eol = body.find("\r\n", pos);
    const std::string_view line =
        body.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    pos = eol == std::string_view::npos ? body.size() : eol + 2;
    if (line.find_first_not_of(" \t") == std::string_view::npos) {
      ++empty_lines;
      continue;
    }
    for (; empty_lines > 0; --empty_lines) sink.emit(std::string_view("\r\n"));
    bool pending_space = false;
    for (const char c : line) {
      if (is_wsp(c)) {
        pending_space = true;
        continue;
      }
      if (pending_space) sink.emit(' ');
      pending_space = false;
      sink.emit(c);
    }
    sink.emit(std::string_view("\r\n"));
  }
}

void feed(DkimCanonicalization how, std::string_view body, BodySink& sink) {
  if (how == DkimCanonicalization::simple) {
    feed_simple(body, sink);
  } else {
    feed_relaxed(body, sink);
  }
}

}  // namespace

std::optional<std::string> dkim_body_hash(std::string_view body, const DkimBodyHashKey& key) {
  BodySink sink;
  sink.add(key);
  feed(key.canonicalization, body, sink);
  std::map<DkimBodyHashKey, std::optional<std::string>> hashes;
  sink.finish(hashes);
  return hashes.at(key);
}

DkimBodyHashKey DkimBodyHashKey::of(const DkimSignature& signature) {
  return DkimBodyHashKey{signature.body_canonicalization,
                         signature.algorithm == DkimAlgorithm::rsa_sha1 ? DkimBodyDigest::sha1
                                                                        : DkimBodyDigest::sha256,
                         signature.body_length};
}

DkimMessage::DkimMessage(std::string_view text) : parts_(split_dkim_message(text)) {}

void DkimMessage::declare(const DkimBodyHashKey& key) const {
  std::lock_guard lock(mutex_);
  declared_.insert(key);
}

std::optional<std::string> DkimMessage::body_hash(const DkimBodyHashKey& key) const {
  std::lock_guard lock(mutex_);
  if (auto found = hashes_.find(key); found != hashes_.end()) return found->second;
  declared_.insert(key);
  compute(key.canonicalization);
  return hashes_.at(key);
}

void DkimMessage::compute_declared() const {
  std::lock_guard lock(mutex_);
  for (const DkimCanonicalization how :
       {DkimCanonicalization::simple, DkimCanonicalization::relaxed})
    compute(how);
}

void DkimMessage::compute(DkimCanonicalization canonicalization) const {
  BodySink sink;
  bool any = false;
  for (const DkimBodyHashKey& key : declared_) {
    if (key.canonicalization != canonicalization || hashes_.contains(key)) continue;
    sink.add(key);
    any = true;
  }
  if (!any) return;
  feed(canonicalization, parts_.body, sink);
  sink.finish(hashes_);
}

}  // namespace herald
