// Real receiving MTAs for the outbound transport's tests, on loopback: Postfix's smtp-sink,
// and a scripted aiosmtpd (Debian's /usr/bin/python3) for what smtp-sink cannot do. Each is
// started by posix_spawn and stopped by its PID when the object goes. Every wait is bounded.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/temp_dir.h"

namespace herald::test_support {

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Polls `done` every 20 ms for up to `limit`; true when it came true.
inline bool wait_until(const std::function<bool()>& done,
                       std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// A TCP port on `address` (IPv4, or IPv6 when it has a colon) that was free a moment ago
// (the peer binds it next); 0 when the address cannot be bound.
inline uint16_t free_tcp_port(const std::string& address, uint16_t wanted = 0) {
  const bool v6 = address.find(':') != std::string::npos;
  const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  const int on = 1;  // as the peer will: a port whose last connections wait in TIME_WAIT
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_storage storage{};
  socklen_t size = 0;
  if (v6) {
    auto* sa = reinterpret_cast<sockaddr_in6*>(&storage);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(wanted);
    ::inet_pton(AF_INET6, address.c_str(), &sa->sin6_addr);
    size = sizeof *sa;
  } else {
    auto* sa = reinterpret_cast<sockaddr_in*>(&storage);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(wanted);
    ::inet_pton(AF_INET, address.c_str(), &sa->sin_addr);
    size = sizeof *sa;
  }
  uint16_t port = 0;
  auto* any = reinterpret_cast<sockaddr*>(&storage);
  if (::bind(fd, any, size) == 0 && ::getsockname(fd, any, &size) == 0) {
    port = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port
                    : reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
  }
  ::close(fd);
  return port;
}

// True once something listens on address:port (IPv4), read from /proc/net/tcp, so that
// waiting for a peer does not itself open a session with it.
inline bool is_listening(const std::string& address, uint16_t port) {
  in_addr binary{};
  ::inet_pton(AF_INET, address.c_str(), &binary);
  char wanted[32];
  std::snprintf(wanted, sizeof wanted, "%08X:%04X", binary.s_addr, port);
  std::ifstream table("/proc/net/tcp");
  std::string line;
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    if (local == wanted && state == "0A") return true;
  }
  return false;
}

// A child process with stdout and stderr in a file, stopped with SIGTERM (then SIGKILL).
class Child {
 public:
  Child(std::vector<std::string> args, const std::filesystem::path& output) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const int error = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (error != 0) throw std::runtime_error("cannot start " + args[0]);
  }
  ~Child() {
    ::kill(pid_, SIGTERM);
    const bool exited = wait_until([this] { return ::waitpid(pid_, nullptr, WNOHANG) == pid_; },
                                   std::chrono::seconds(5));
    if (!exited) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool running() const { return ::waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  pid_t pid_ = -1;
};

// Postfix's smtp-sink on address:port with `options` (see smtp-sink(1): -r/-f to refuse
// commands with a 4xx/5xx, -b/-B for their replies, -8 for no 8BITMIME, -t for its timeout).
// Each message lands in its own file in dumps(); -c keeps counters of sessions, QUITs and
// messages, which counters() returns as "sess=1 quit=1 mesg=2".
class SmtpSink {
 public:
  SmtpSink(std::string address, uint16_t port, std::vector<std::string> options = {})
      : address_(std::move(address)), port_(port) {
    std::filesystem::create_directory(dumps());
    std::vector<std::string> args{"/usr/sbin/smtp-sink", "-c", "-d", (dumps() / "msg.").string()};
    // smtp-sink refuses to run as root without a user to become; that user writes the dumps.
    if (::geteuid() == 0) {
      args.insert(args.end(), {"-u", "nobody"});
      std::filesystem::permissions(dir_.path(), std::filesystem::perms::others_exec,
                                   std::filesystem::perm_options::add);
      std::filesystem::permissions(dumps(), std::filesystem::perms::all);
    }
    args.insert(args.end(), options.begin(), options.end());
    args.push_back(address_ + ":" + std::to_string(port_));
    args.push_back("16");
    child_ = std::make_unique<Child>(args, dir_.path() / "out");
    if (!wait_until([this] { return is_listening(address_, port_) || !child_->running(); }) ||
        !child_->running()) {
      throw std::runtime_error("smtp-sink did not start: " + read_file(dir_.path() / "out"));
    }
  }

  std::filesystem::path dumps() const { return dir_.path() / "dumps"; }

  std::vector<std::string> messages() const {
    std::vector<std::string> texts;
    for (const auto& entry : std::filesystem::directory_iterator(dumps()))
      texts.push_back(read_file(entry.path()));
    return texts;
  }

  // The last counters line ("sess=N quit=N mesg=N"); written when a session ends.
  std::string counters() const {
    const std::string out = read_file(dir_.path() / "out");
    const size_t end = out.find_last_not_of("\r\n");
    if (end == std::string::npos) return "";
    const size_t start = out.find_last_of("\r\n", end);
    return out.substr(start == std::string::npos ? 0 : start + 1, end + 1 - (start + 1));
  }

 private:
  TempDir dir_;
  std::string address_;
  uint16_t port_;
  std::unique_ptr<Child> child_;
};

// aiosmtpd, scripted by a JSON object (keys below), logging what it sees as JSON lines to
// events(): {"event": "ehlo"|"mail"|"rcpt"|"data", "peer": client port, "tls": bool, ...}.
//   "rcpt_replies": {"address": "550 5.1.1 …"}  refuse these recipients with that reply
//   "size_limit": N          announce SIZE N (and refuse larger messages)
//   "tls": true              offer STARTTLS with a self-signed certificate made here
//   "tls_broken": true       offer STARTTLS, then fail every handshake (TLS 1.1 at most)
//   "data_delay": seconds    wait this long before answering the end of data
class AiosmtpdPeer {
 public:
  AiosmtpdPeer(std::string address, uint16_t port, const std::string& settings_json)
      : address_(std::move(address)), port_(port) {
    const std::filesystem::path dir = dir_.path();
    std::ofstream(dir / "peer.py") << kScript;
    std::ofstream(dir / "settings.json") << settings_json;
    if (settings_json.find("\"tls") != std::string::npos) make_certificate();
    child_ = std::make_unique<Child>(
        std::vector<std::string>{"/usr/bin/python3", (dir / "peer.py").string(),
                                 (dir / "settings.json").string(), address_, std::to_string(port_),
                                 (dir / "events").string(), (dir / "cert.pem").string(),
                                 (dir / "key.pem").string()},
        dir / "out");
    if (!wait_until([&] {
          return read_file(dir / "out").find("ready") != std::string::npos || !child_->running();
        }) ||
        !child_->running()) {
      throw std::runtime_error("aiosmtpd did not start: " + read_file(dir / "out"));
    }
  }

  std::string events() const { return read_file(dir_.path() / "events"); }

 private:
  void make_certificate() {
    const std::string dir = dir_.path().string();
    const std::string command =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -days 1 -subj /CN=mx.example.test -keyout " +
        dir + "/key.pem -out " + dir + "/cert.pem 2>/dev/null";
    if (std::system(command.c_str()) != 0) throw std::runtime_error("openssl req failed");
  }

  static constexpr const char* kScript = R"PY(
import asyncio, json, signal, ssl, sys
from aiosmtpd.controller import Controller

settings_file, host, port, events_file, cert, key = sys.argv[1:7]
settings = json.load(open(settings_file))
events = open(events_file, "a", buffering=1)

def record(event, session, **fields):
    fields.update(event=event, peer=session.peer[1], tls=session.ssl is not None)
    events.write(json.dumps(fields) + "\n")

class Handler:
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        record("ehlo", session)
        return responses

    async def handle_MAIL(self, server, session, envelope, address, options):
        record("mail", session, address=address, options=options)
        envelope.mail_from = address
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        record("rcpt", session, address=address, options=options)
        reply = settings.get("rcpt_replies", {}).get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        record("data", session, rcpts=envelope.rcpt_tos,
               content=envelope.content.decode("latin-1"))
        await asyncio.sleep(settings.get("data_delay", 0))
        return "250 2.0.0 queued as 42"

parameters = {}
if "size_limit" in settings:
    parameters["data_size_limit"] = settings["size_limit"]
if settings.get("tls") or settings.get("tls_broken"):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    if settings.get("tls_broken"):
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    parameters["tls_context"] = context
controller = Controller(Handler(), hostname=host, port=int(port), **parameters)
controller.start()
print("ready", flush=True)
signal.pause()  # until the test sends SIGTERM
)PY";

  TempDir dir_;
  std::string address_;
  uint16_t port_;
  std::unique_ptr<Child> child_;
};

// A hostile or broken receiving server, scripted by a JSON object, for the transport's
// deadlines and caps. It logs {"event": "connect"} for every connection it accepts and
// {"event": "command", "verb": "RCPT"} for every command line to events(). Keys:
//   "silent_at": "connect"   accept the connection and never greet (a tarpit)
//   "silent_at": "MAIL"      answer everything before that verb, then never reply again
//                            (any verb: "EHLO", "MAIL", "RCPT", "DATA")
//   "trickle_at": "EHLO"     answer that verb with a reply that never ends, one octet every
//                            "trickle_interval" seconds (default 0.2)
//   "stall_content": true    after the 354 to DATA, stop reading (a small receive buffer)
//   "greeting": "554 5.3.2 go away"   greet with this line instead of "220 peer.test ESMTP"
// Otherwise it answers 250 to everything, 354 to DATA and 221 to QUIT, and takes a whole
// message; it offers only 8BITMIME (no PIPELINING, no CHUNKING).
class ScriptedPeer {
 public:
  ScriptedPeer(std::string address, uint16_t port, const std::string& settings_json)
      : address_(std::move(address)), port_(port) {
    const std::filesystem::path dir = dir_.path();
    std::ofstream(dir / "peer.py") << kScript;
    std::ofstream(dir / "settings.json") << settings_json;
    child_ = std::make_unique<Child>(
        std::vector<std::string>{"/usr/bin/python3", (dir / "peer.py").string(),
                                 (dir / "settings.json").string(), address_, std::to_string(port_),
                                 (dir / "events").string()},
        dir / "out");
    if (!wait_until([&] {
          return read_file(dir / "out").find("ready") != std::string::npos || !child_->running();
        }) ||
        !child_->running()) {
      throw std::runtime_error("scripted peer did not start: " + read_file(dir / "out"));
    }
  }

  std::string events() const { return read_file(dir_.path() / "events"); }

  // How many times `event` ("connect", "command", "stalled") was logged.
  size_t count(const std::string& event) const {
    const std::string text = events();
    const std::string needle = "\"event\": \"" + event + "\"";
    size_t n = 0;
    for (size_t at = 0; (at = text.find(needle, at)) != std::string::npos; at += needle.size()) ++n;
    return n;
  }

 private:
  static constexpr const char* kScript = R"PY(
import asyncio, json, socket, sys

settings_file, host, port, events_file = sys.argv[1:5]
settings = json.load(open(settings_file))
events = open(events_file, "a", buffering=1)
silent_at = settings.get("silent_at")
trickle_at = settings.get("trickle_at")
interval = settings.get("trickle_interval", 0.2)
stall_content = settings.get("stall_content", False)
greeting = settings.get("greeting", "220 peer.test ESMTP")

def record(event, **fields):
    fields["event"] = event
    events.write(json.dumps(fields) + "\n")

async def drain_until_closed(reader):
    while await reader.read(65536):
        pass

async def session(reader, writer):
    record("connect")
    try:
        if silent_at == "connect":
            await drain_until_closed(reader)
            return
        writer.write((greeting + "\r\n").encode())
        await writer.drain()
        while True:
            line = await reader.readline()
            if not line:
                return
            verb = line[:4].decode("latin-1").upper().strip()
            record("command", verb=verb)
            if verb == silent_at:
                await drain_until_closed(reader)
                return
            if verb == trickle_at:
                while True:
                    for octet in b"250-trickling\r\n":
                        writer.write(bytes([octet]))
                        await writer.drain()
                        await asyncio.sleep(interval)
            if verb in ("EHLO", "HELO"):
                writer.write(b"250-peer.test\r\n250 8BITMIME\r\n")
            elif verb == "DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                if stall_content:
                    record("stalled")
                    await asyncio.sleep(3600)
                    return
                while (await reader.readline()) not in (b".\r\n", b""):
                    pass
                writer.write(b"250 2.0.0 taken\r\n")
            elif verb == "QUIT":
                writer.write(b"221 2.0.0 bye\r\n")
                await writer.drain()
                return
            else:
                writer.write(b"250 2.0.0 ok\r\n")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()

async def main():
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if stall_content:
        # Accepted sockets inherit it: the client's writes fill the window at once.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.bind((host, int(port)))
    server = await asyncio.start_server(session, sock=sock, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
)PY";

  TempDir dir_;
  std::string address_;
  uint16_t port_;
  std::unique_ptr<Child> child_;
};

}  // namespace herald::test_support
