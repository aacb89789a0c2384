// A real authoritative DNS server for tests: nsd on a free loopback port, serving zone
// files written by the test, run unprivileged in the foreground (DESIGN.md section 9) and
// stopped by its PID when the object goes. Every wait is bounded.
#pragma once

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/temp_dir.h"

namespace herald::test_support {

// A UDP socket on 127.0.0.1 that the test holds open and never reads: queries sent to it
// get no answer, which is how a timeout is made.
class SilentUdpPort {
 public:
  SilentUdpPort() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
      throw std::runtime_error("cannot bind a loopback UDP port");
    }
    port_ = ntohs(address.sin_port);
  }
  ~SilentUdpPort() { ::close(fd_); }
  SilentUdpPort(const SilentUdpPort&) = delete;
  SilentUdpPort& operator=(const SilentUdpPort&) = delete;

  uint16_t port() const { return port_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

class NsdServer {
 public:
  struct Zone {
    std::string name;  // "example.test"
    std::string text;  // the zone file
  };

  // `port` 0 takes a free one; a given port lets a test put a new server, with new data,
  // where one it has stopped was, so that a resolver set up for the old one reaches it.
  explicit NsdServer(const std::vector<Zone>& zones, uint16_t port = 0) : port_(port) {
    if (port_ == 0) port_ = SilentUdpPort().port();  // free a moment ago; nsd binds it next
    write_config(zones);
    spawn();
    wait_until_answering();
  }

  ~NsdServer() { stop(); }
  NsdServer(const NsdServer&) = delete;
  NsdServer& operator=(const NsdServer&) = delete;

  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  void write_config(const std::vector<Zone>& zones) {
    const std::string dir = dir_.path().string();
    std::ofstream conf(dir_.path() / "nsd.conf");
    conf << "server:\n"
         << "  ip-address: 127.0.0.1@" << port_ << "\n"
         << "  username: \"\"\n  chroot: \"\"\n  database: \"\"\n"
         << "  zonesdir: \"" << dir << "\"\n"
         << "  pidfile: \"" << dir << "/nsd.pid\"\n"
         << "  xfrdfile: \"" << dir << "/xfrd.state\"\n"
         << "  xfrdir: \"" << dir << "\"\n"
         << "  zonelistfile: \"" << dir << "/zone.list\"\n"
         << "  logfile: \"" << dir << "/nsd.log\"\n"
         << "  server-count: 1\n  verbosity: 1\n"
         << "remote-control:\n  control-enable: no\n";
    for (const Zone& zone : zones) {
      std::ofstream(dir_.path() / (zone.name + ".zone")) << zone.text;
      conf << "zone:\n  name: \"" << zone.name << "\"\n  zonefile: \"" << zone.name << ".zone\"\n";
    }
  }

  void spawn() {
    const std::string conf = (dir_.path() / "nsd.conf").string();
    const std::string out = (dir_.path() / "nsd.out").string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<std::string> args{"/usr/sbin/nsd", "-d", "-c", conf};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    // Its own process group: nsd forks an xfrd and server processes, and stop() must reach
    // all of them.
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attributes, 0);
    const int error = posix_spawn(&pid_, argv[0], &actions, &attributes, argv.data(), environ);
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    if (error != 0) throw std::runtime_error("cannot start /usr/sbin/nsd");
  }

  // Sends an SOA query for the root until nsd answers anything (REFUSED included).
  void wait_until_answering() {
    SilentUdpPort client;
    sockaddr_in server{};
    server.sin_family = AF_INET;
    server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    server.sin_port = htons(port_);
    const uint8_t query[] = {0x12, 0x34, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("nsd exited at start; see " + dir_.path().string());
      }
      ::sendto(client.fd(), query, sizeof query, 0, reinterpret_cast<sockaddr*>(&server),
               sizeof server);
      pollfd readable{client.fd(), POLLIN, 0};
      if (::poll(&readable, 1, 200) == 1) return;
    }
    stop();
    throw std::runtime_error("nsd did not answer within 10 s");
  }

  // SIGTERM to the group, up to 5 s for nsd to exit, then SIGKILL to whatever is left.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    bool reaped = false;
    while (!reaped && std::chrono::steady_clock::now() < deadline) {
      const pid_t result = ::waitpid(pid_, nullptr, WNOHANG);
      reaped = result == pid_ || (result < 0 && errno != EINTR);
      if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(-pid_, SIGKILL);
    if (!reaped) ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  TempDir dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace herald::test_support
