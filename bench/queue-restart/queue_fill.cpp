// queue_fill: commits COUNT small messages for one remote recipient straight into a herald
// store, as many threads at once as asked, so that the queue-restart benchmark has a queue of
// 1,000,000 in a minute or two instead of the ~17 minutes smtp-source would take at ~1,000
// accepts a second.
//
//   herald_queue_fill STORE_DIR COUNT RECIPIENT [THREADS]
//
// Each message is what an SMTP session on loopback would have committed (server_session.cpp):
// a record with its envelope, ~600 octets of content with a Received field, one `smtp`
// delivery to RECIPIENT due now, and the `received` and `queued` ledger events. heraldd must
// not be running on STORE_DIR (the store opens read_write, exclusively). Commits go through
// Store::commit_message, so concurrent threads share fsyncs exactly as sessions do.
// Prints the rate to stdout; exits 1 (with the reason on stderr) on a store error, 2 on bad
// arguments.
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "store/store.h"
#include "util/message_id.h"

namespace {

using herald::Delivery;
using herald::LedgerEvent;
using herald::MessageRecord;

constexpr std::string_view kSender = "src@bench.test";

std::string content_of(const std::string& id, const std::string& recipient) {
  std::string body;
  body += "Received: from bench-client.test ([127.0.0.1]) by bench-herald.test with ESMTP id ";
  body += id + " for <" + recipient + ">; Wed, 2 Dec 2026 00:00:00 +0000\r\n";
  body += "From: <src@bench.test>\r\nTo: <" + recipient + ">\r\n";
  body += "Subject: queue-restart benchmark filler\r\nMessage-ID: <" + id + "@bench.test>\r\n\r\n";
  for (int line = 0; line < 6; ++line) {
    body += "This message waits in the queue for a destination that is down. 0123456789\r\n";
  }
  return body;
}

// One message as ServerSession::on_end_of_data builds it for a single remote recipient.
void commit_one(herald::Store& store, const std::string& recipient) {
  const herald::TimePoint now = std::chrono::system_clock::now();
  MessageRecord record;
  record.id = herald::new_message_id(now);
  record.received_at = now;
  record.envelope.mail_from = std::string(kSender);
  record.envelope.rcpt_to = {recipient};
  record.envelope.helo = "bench-client.test";
  record.envelope.peer_ip = "127.0.0.1";
  record.envelope.peer_port = 40000;
  record.envelope.listener = "smtp";
  record.envelope.protocol = "ESMTP";
  record.envelope.body_type = "7BIT";
  const std::string content = content_of(record.id, recipient);
  record.size = content.size();

  Delivery delivery;
  delivery.message_id = record.id;
  delivery.recipient = recipient;
  delivery.mailbox = recipient;
  delivery.transport = "smtp";
  delivery.next_attempt = now;

  const std::vector<LedgerEvent> events{
      LedgerEvent{now,
                  "received",
                  "",
                  {{"peer", "127.0.0.1"},
                   {"helo", "bench-client.test"},
                   {"tls", "no"},
                   {"size", std::to_string(record.size)},
                   {"from", "<" + std::string(kSender) + ">"},
                   {"listener", "smtp"},
                   {"trusted_network", "yes"}}},
      LedgerEvent{now, "queued", recipient, {{"relay_to", recipient}}},
  };
  store.commit_message(record, content, {delivery}, events);
}

bool parse_count(std::string_view text, long& out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size() && out > 0;
}

}  // namespace

int main(int argc, char** argv) {
  long count = 0;
  long threads = 32;
  if (argc < 4 || argc > 5 || !parse_count(argv[2], count) ||
      (argc == 5 && !parse_count(argv[4], threads))) {
    std::fprintf(stderr, "usage: %s STORE_DIR COUNT RECIPIENT [THREADS]\n", argv[0]);
    return 2;
  }
  const std::string recipient = argv[3];
  try {
    const auto store = herald::open_rocksdb_store(argv[1], herald::StoreMode::read_write);
    std::atomic<long> next{0};
    std::atomic<bool> failed{false};
    std::string failure;  // written once, by the thread that set `failed` first
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::jthread> workers;
    for (long t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        while (!failed.load() && next.fetch_add(1) < count) {
          try {
            commit_one(*store, recipient);
          } catch (const std::exception& error) {
            if (!failed.exchange(true)) failure = error.what();
          }
        }
      });
    }
    workers.clear();  // joins
    if (failed.load()) {
      std::fprintf(stderr, "queue_fill: store error: %s\n", failure.c_str());
      return 1;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("committed %ld messages in %.1f s (%.0f msg/s, %ld threads)\n", count, seconds,
                count / seconds, threads);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "queue_fill: %s\n", error.what());
    return 1;
  }
  return 0;
}
