#include "dns/memory_resolver.h"

#include <algorithm>
#include <utility>

namespace herald {
namespace {

constexpr uint32_t kTtl = 300;

}  // namespace

void MemoryResolver::add_mx(std::string_view name, uint16_t preference, std::string_view exchange) {
  std::lock_guard lock(mutex_);
  auto& mx = zone_[normalize_dns_name(name)].mx;
  mx.push_back({preference, normalize_dns_name(exchange)});
  std::stable_sort(mx.begin(), mx.end(), [](const MxRecord& x, const MxRecord& y) {
    return x.preference < y.preference;
  });
}

void MemoryResolver::add_a(std::string_view name, std::string address) {
  std::lock_guard lock(mutex_);
  zone_[normalize_dns_name(name)].a.push_back(std::move(address));
}

void MemoryResolver::add_aaaa(std::string_view name, std::string address) {
  std::lock_guard lock(mutex_);
  zone_[normalize_dns_name(name)].aaaa.push_back(std::move(address));
}

void MemoryResolver::add_txt(std::string_view name, std::vector<std::string> strings) {
  std::lock_guard lock(mutex_);
  zone_[normalize_dns_name(name)].txt.push_back({std::move(strings)});
}

void MemoryResolver::add_tlsa(std::string_view name, TlsaRecord record) {
  std::lock_guard lock(mutex_);
  zone_[normalize_dns_name(name)].tlsa.push_back(std::move(record));
}

void MemoryResolver::add_ptr(std::string_view name, std::string_view target) {
  std::lock_guard lock(mutex_);
  zone_[normalize_dns_name(name)].ptr.push_back(normalize_dns_name(target));
}

void MemoryResolver::fail(std::string_view name, DnsStatus status) {
  std::lock_guard lock(mutex_);
  zone_[normalize_dns_name(name)].failure = status;
}

void MemoryResolver::set_secure(std::string_view name) {
  std::lock_guard lock(mutex_);
  zone_[normalize_dns_name(name)].secure = true;
}

uint64_t MemoryResolver::query_count() const {
  std::lock_guard lock(mutex_);
  return queries_;
}

template <class Record>
DnsAnswer<Record> MemoryResolver::answer(std::string_view name,
                                         std::vector<Record> Node::*records) {
  std::lock_guard lock(mutex_);
  ++queries_;
  DnsAnswer<Record> result;
  auto node = zone_.find(normalize_dns_name(name));
  if (node == zone_.end()) {
    result.status = DnsStatus::nxdomain;
    return result;
  }
  if (node->second.failure) {
    result.status = *node->second.failure;
    return result;
  }
  result.status = DnsStatus::no_error;
  result.records = node->second.*records;
  result.ttl = result.records.empty() ? 0 : kTtl;
  result.secure = node->second.secure;
  return result;
}

void MemoryResolver::lookup_mx(std::string name, Done<MxRecord> done) {
  done(answer(name, &Node::mx));
}

void MemoryResolver::lookup_a(std::string name, Done<std::string> done) {
  done(answer(name, &Node::a));
}

void MemoryResolver::lookup_aaaa(std::string name, Done<std::string> done) {
  done(answer(name, &Node::aaaa));
}

void MemoryResolver::lookup_txt(std::string name, Done<TxtRecord> done) {
  done(answer(name, &Node::txt));
}

void MemoryResolver::lookup_tlsa(std::string name, Done<TlsaRecord> done) {
  done(answer(name, &Node::tlsa));
}

void MemoryResolver::lookup_ptr(std::string name, Done<std::string> done) {
  done(answer(name, &Node::ptr));
}

}  // namespace herald
