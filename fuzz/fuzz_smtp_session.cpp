// A whole SMTP session driven by arbitrary client bytes, the way the connection drives it:
// command lines, then DATA content or BDAT chunks when the session asks for them. Any
// crash, sanitizer report or assertion here is a bug in the state machine.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "smtp/server_session.h"

namespace {

const herald::Config& config() {
  static const herald::Config c = herald::parse_config(R"(
[server]
hostname = "mx.example.test"
data_dir = "/nonexistent"
[[listen]]
address = "127.0.0.1:25"
[limits]
max_recipients = 5
max_message_size = 2000
max_errors = 20
[[domain]]
name = "example.test"
[[user]]
address = "alice@example.test"
[[alias]]
address = "postmaster@example.test"
to = ["alice@example.test"]
)",
                                                       "/fuzz.toml");
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const herald::Directory directory(config());
  static const herald::ManualClock clock(herald::from_unix_ms(1'700'000'000'000));
  static const herald::SessionSettings settings = [] {
    herald::SessionSettings s;
    s.hostname = "mx.example.test";
    s.limits = config().limits;
    s.postmaster = "postmaster@example.test";
    return s;
  }();

  herald::ServerSession session(settings, directory, clock, herald::PeerInfo{"192.0.2.1", 25});
  std::string_view input(reinterpret_cast<const char*>(data), size);
  using Next = herald::SessionStep::Next;
  herald::SessionStep step;
  bool commit_fails = false;
  while (!input.empty() && step.next != Next::close) {
    switch (step.next) {
      case Next::read_command:
      case Next::start_tls: {
        if (step.next == Next::start_tls)
          session.on_tls_started({"TLSv1.3", "TLS_AES_128_GCM_SHA256"});
        const size_t lf = input.find('\n');
        const std::string_view line = input.substr(0, lf);
        input.remove_prefix(lf == std::string_view::npos ? input.size() : lf + 1);
        step = line.size() > 512 ? session.on_line_too_long() : session.on_command_line(line);
        break;
      }
      case Next::read_data:
        input.remove_prefix(session.on_data(input));
        if (!session.data_complete()) return 0;
        step = session.on_data_end();
        break;
      case Next::read_chunk: {
        if (step.chunk_size > input.size()) return 0;
        session.on_chunk_data(input.substr(0, step.chunk_size));
        input.remove_prefix(step.chunk_size);
        step = session.on_chunk_end();
        break;
      }
      case Next::commit: {
        const herald::AcceptedMessage& m = session.message_to_commit();
        if (m.deliveries.empty() || m.record.size != m.content.size()) __builtin_trap();
        step = commit_fails ? session.on_commit_failed() : session.on_commit_succeeded();
        commit_fails = !commit_fails;
        break;
      }
      case Next::close:
        break;
    }
    if (step.reply && (step.reply->lines.empty() || step.reply->code < 200)) __builtin_trap();
  }
  return 0;
}
