#include "auth/dkim_message.h"

namespace herald {

DkimMessage::DkimMessage(const MessageContent& content)
    : content_(content), headers_(split_dkim_message(content_.header).headers) {}

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
  DkimBodyHasher hasher(canonicalization);
  bool any = false;
  for (const DkimBodyHashKey& key : declared_) {
    if (key.canonicalization != canonicalization || hashes_.contains(key)) continue;
    hasher.add(key);
    any = true;
  }
  if (!any) return;
  content_.read_body([&](std::string_view piece) {
    hasher.update(piece);
    return true;
  });
  hashes_.merge(hasher.finish());
}

}  // namespace herald
