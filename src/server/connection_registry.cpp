#include "server/connection_registry.h"

#include <vector>

#include "smtp/client_key.h"

namespace herald {

ConnectionRegistry::ConnectionRegistry(uint32_t max_connections, uint32_t max_connections_per_ip)
    : max_connections_(max_connections), max_connections_per_ip_(max_connections_per_ip) {}

std::optional<uint64_t> ConnectionRegistry::admit(const std::string& ip) {
  std::lock_guard lock(mutex_);
  if (shutting_down_ || connections_.size() >= max_connections_) return std::nullopt;
  std::string client = client_key(ip);
  uint32_t& from_client = per_client_[client];
  if (from_client >= max_connections_per_ip_) return std::nullopt;
  ++from_client;
  const uint64_t id = next_id_++;
  connections_.emplace(id, Entry{std::move(client), nullptr});
  return id;
}

void ConnectionRegistry::set_stop(uint64_t id, std::function<void()> stop) {
  std::unique_lock lock(mutex_);
  const auto it = connections_.find(id);
  if (it == connections_.end()) return;
  if (!shutting_down_) {
    it->second.stop = std::move(stop);
    return;
  }
  lock.unlock();
  stop();
}

void ConnectionRegistry::release(uint64_t id) {
  std::lock_guard lock(mutex_);
  const auto it = connections_.find(id);
  if (it == connections_.end()) return;
  const auto client = per_client_.find(it->second.client);
  if (--client->second == 0) per_client_.erase(client);
  connections_.erase(it);
  if (connections_.empty()) emptied_.notify_all();
}

void ConnectionRegistry::shutdown_all() {
  std::vector<std::function<void()>> stops;
  {
    std::lock_guard lock(mutex_);
    shutting_down_ = true;
    for (const auto& [id, entry] : connections_) {
      if (entry.stop) stops.push_back(entry.stop);
    }
  }
  // Outside the lock: a stop function may end its connection, which releases its slot.
  for (const auto& stop : stops) stop();
}

bool ConnectionRegistry::wait_until_empty(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return emptied_.wait_for(lock, timeout, [&] { return connections_.empty(); });
}

size_t ConnectionRegistry::open_connections() const {
  std::lock_guard lock(mutex_);
  return connections_.size();
}

}  // namespace herald
