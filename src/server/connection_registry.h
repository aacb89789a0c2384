// The daemon's list of open connections: it enforces limits.max_connections and
// limits.max_connections_per_ip (per client: an IPv4 address or an IPv6 /64, smtp/client_key.h),
// names each connection, and reaches all of them when the
// daemon shuts down. Thread-safe; no I/O.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace herald {

class ConnectionRegistry {
 public:
  ConnectionRegistry(uint32_t max_connections, uint32_t max_connections_per_ip);

  // Takes a slot for a connection from `ip` (numeric) and returns its id (unique, from 1), or
  // nullopt when a limit is reached or shutdown_all() was called.
  std::optional<uint64_t> admit(const std::string& ip);

  // How to ask connection `id` to finish; called at most once per id, after admit().
  // If shutdown_all() came first, `stop` is called at once.
  void set_stop(uint64_t id, std::function<void()> stop);

  // Gives the slot of connection `id` back.
  void release(uint64_t id);

  // Admits nothing more and calls every connection's stop function.
  void shutdown_all();

  // Blocks until every connection is released or `timeout` passes; true if none is left.
  bool wait_until_empty(std::chrono::milliseconds timeout);

  size_t open_connections() const;

 private:
  struct Entry {
    std::string client;  // client_key() of its address
    std::function<void()> stop;
  };

  const uint32_t max_connections_;
  const uint32_t max_connections_per_ip_;
  mutable std::mutex mutex_;
  std::condition_variable emptied_;
  std::map<uint64_t, Entry> connections_;
  std::map<std::string, uint32_t> per_client_;  // by client_key()
  uint64_t next_id_ = 1;
  bool shutting_down_ = false;
};

}  // namespace herald
