// DKIM signing and verification throughput (issue 4): RSA-2048 and Ed25519, relaxed/relaxed,
// on a 10 KiB message; and (issue 8) what a hostile sender can make a verifier pay: one
// message of 1 MiB carrying five RSA-2048 signatures, one signature whose h= names 10,000
// fields over a header of 10,000 others, and a chain of 50 ARC sets with large fields. Verification
// includes the key lookup, answered by a MemoryResolver (no network), so the figure is the cost of
// herald's own work per message.
#include <benchmark/benchmark.h>

#include <string>
#include <variant>

#include "auth/arc_seal.h"
#include "auth/arc_verify.h"
#include "auth/dkim_canonical.h"
#include "auth/dkim_crypto.h"
#include "auth/dkim_keygen.h"
#include "auth/dkim_sign.h"
#include "auth/dkim_verify.h"
#include "dns/memory_resolver.h"
#include "mime/message_content.h"
#include "util/clock.h"

namespace herald {
namespace {

// A plain message of about `size` bytes: a few header fields, then 78-character lines of text.
std::string message_of(size_t size) {
  std::string message =
      "From: Alice <alice@example.test>\r\n"
      "To: Bob <bob@example.net>\r\n"
      "Subject: quarterly figures\r\n"
      "Date: Sun, 29 Nov 2026 07:00:00 +0000\r\n"
      "Message-ID: <bench@example.test>\r\n"
      "\r\n";
  const std::string line(76, 'x');
  while (message.size() < size) message += line + "\r\n";
  return message;
}

struct Setup {
  explicit Setup(DkimKeyRecord::KeyType type)
      : keys(generate_dkim_key(type)),
        signer(std::get<DkimSigner>(
            DkimSigner::from_pem(keys.private_key_pem, "example.test", "bench"))),
        message(MessageContent::from_text(message_of(10 * 1024))) {
    dns.add_txt("bench._domainkey.example.test", {keys.key_record});
    signed_message =
        message.with_fields_on_top(std::get<std::string>(signer.sign(message, clock.now())));
  }

  DkimKeyPair keys;
  DkimSigner signer;
  MessageContent message;
  MessageContent signed_message;
  MemoryResolver dns;
  SystemClock clock;
};

void sign(benchmark::State& state, DkimKeyRecord::KeyType type) {
  const Setup setup(type);
  for (auto _ : state) {
    benchmark::DoNotOptimize(setup.signer.sign(setup.message, setup.clock.now()));
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(setup.message.size()));
}

void verify(benchmark::State& state, DkimKeyRecord::KeyType type) {
  Setup setup(type);
  DkimVerifier verifier(setup.dns, setup.clock);
  for (auto _ : state) {
    DkimResult result = DkimResult::neutral;
    // MemoryResolver answers at once, so the verdict is in before verify() returns.
    verifier.verify(setup.signed_message,
                    [&](std::vector<DkimVerdict> verdicts) { result = verdicts.at(0).result; });
    if (result != DkimResult::pass) state.SkipWithError("the signature did not verify");
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(setup.message.size()));
}

// Five signers of one 1 MiB message (d= one.test .. five.test), their fields stacked on top.
struct StackedSetup {
  StackedSetup() : message(MessageContent::from_text(message_of(1024 * 1024))) {
    const char* domains[] = {"one.test", "two.test", "three.test", "four.test", "five.test"};
    std::string fields;
    for (const char* domain : domains) {
      const DkimKeyPair keys = generate_dkim_key(DkimKeyRecord::KeyType::rsa);
      const DkimSigner signer =
          std::get<DkimSigner>(DkimSigner::from_pem(keys.private_key_pem, domain, "bench"));
      dns.add_txt(std::string("bench._domainkey.") + domain, {keys.key_record});
      fields += std::get<std::string>(signer.sign(message, clock.now()));
    }
    signed_message = message.with_fields_on_top(fields);
  }

  MessageContent message;
  MessageContent signed_message;
  MemoryResolver dns;
  SystemClock clock;
};

void verify_five_signatures_1_mib(benchmark::State& state) {
  StackedSetup setup;
  DkimVerifier verifier(setup.dns, setup.clock);
  for (auto _ : state) {
    size_t passed = 0;
    verifier.verify(setup.signed_message, [&](std::vector<DkimVerdict> verdicts) {
      for (const DkimVerdict& verdict : verdicts) passed += verdict.result == DkimResult::pass;
    });
    if (passed != 5) state.SkipWithError("not all five signatures verified");
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(setup.message.size()));
}

// A signature with a correct bh= (anyone can compute it) and an h= of 10,000 names that are
// not in the header, over a header of 10,000 other fields; b= is bogus, so the check runs
// through the header data and fails at the signature.
struct HostileHeaderSetup {
  HostileHeaderSetup() {
    const DkimKeyPair keys = generate_dkim_key(DkimKeyRecord::KeyType::rsa);
    dns.add_txt("bench._domainkey.example.test", {keys.key_record});
    std::string header;
    for (int i = 0; i < 10000; ++i) header += "X-Filler: " + std::to_string(i) + "\r\n";
    const std::string body = "Hello.\r\n";
    std::string h = "from";
    for (int i = 0; i < 10000; ++i) h += ":x-absent";
    const std::string bh = encode_base64(dkim_digest(
        DkimAlgorithm::rsa_sha256, canonicalize_body(body, DkimCanonicalization::relaxed)));
    signed_message = MessageContent::from_text(
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.test; "
        "s=bench; h=" +
        h + "; bh=" + bh + "; b=AAAA\r\n" + "From: a@example.test\r\n" + header + "\r\n" + body);
  }

  MessageContent signed_message;
  MemoryResolver dns;
  SystemClock clock;
};

void verify_hostile_signed_header_list(benchmark::State& state) {
  HostileHeaderSetup setup;
  DkimVerifier verifier(setup.dns, setup.clock);
  for (auto _ : state) {
    std::string reason;
    verifier.verify(setup.signed_message,
                    [&](std::vector<DkimVerdict> verdicts) { reason = verdicts.at(0).reason; });
    if (reason != "signature does not verify") state.SkipWithError(reason.c_str());
  }
  state.SetItemsProcessed(state.iterations());
}

// 50 ARC sets (the most RFC 8617 allows) by one Ed25519 sealer, each AAR carrying 8 KiB of
// results: what the seals cover grows with every set.
struct ArcChainSetup {
  ArcChainSetup() {
    const DkimKeyPair keys = generate_dkim_key(DkimKeyRecord::KeyType::ed25519);
    dns.add_txt("arc._domainkey.relay.test", {keys.key_record});
    const ArcSealer sealer =
        std::get<ArcSealer>(ArcSealer::from_pem(keys.private_key_pem, "relay.test", "arc"));
    std::string results = "spf=pass smtp.mailfrom=origin.test";
    while (results.size() < 8 * 1024) results += " (padding padding padding padding)";
    message = MessageContent::from_text(message_of(10 * 1024));
    ArcChainResult chain = ArcChainResult::none;
    for (int i = 0; i < 50; ++i) {
      message = message.with_fields_on_top(std::get<std::string>(
          sealer.seal(message, "mx.relay.test", results, chain, clock.now())));
      chain = ArcChainResult::pass;
    }
  }

  MessageContent message;
  MemoryResolver dns;
  SystemClock clock;
};

void verify_arc_chain_of_50_sets(benchmark::State& state) {
  ArcChainSetup setup;
  ArcVerifier verifier(setup.dns, setup.clock);
  for (auto _ : state) {
    ArcChainResult result = ArcChainResult::none;
    verifier.verify(setup.message, [&](ArcVerdict verdict) { result = verdict.result; });
    if (result != ArcChainResult::pass) state.SkipWithError("the chain did not validate");
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(setup.message.size()));
}

BENCHMARK_CAPTURE(sign, rsa2048, DkimKeyRecord::KeyType::rsa);
BENCHMARK_CAPTURE(sign, ed25519, DkimKeyRecord::KeyType::ed25519);
BENCHMARK_CAPTURE(verify, rsa2048, DkimKeyRecord::KeyType::rsa);
BENCHMARK_CAPTURE(verify, ed25519, DkimKeyRecord::KeyType::ed25519);
BENCHMARK(verify_five_signatures_1_mib)->Unit(benchmark::kMillisecond);
BENCHMARK(verify_hostile_signed_header_list)->Unit(benchmark::kMillisecond);
BENCHMARK(verify_arc_chain_of_50_sets)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace herald

BENCHMARK_MAIN();
