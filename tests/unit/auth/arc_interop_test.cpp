// herald's ARC against dkimpy's (python3-dkim, the reference implementation of the ValiMail
// suite), both ways: herald seals, dkimpy validates; dkimpy seals, herald validates.
#include <gtest/gtest.h>

#include <iostream>

#include "auth/arc_seal.h"
#include "auth/arc_test_support.h"
#include "auth/dkim_keygen.h"
#include "auth/dkim_test_support.h"
#include "dns/memory_resolver.h"
#include "support/temp_dir.h"

namespace herald {
namespace {

using test_support::conformance_path;
using test_support::read_file;
using test_support::record_text;
using test_support::run_python;
using test_support::verify_arc_now;
using test_support::write;

// dkimpy's chain validation, with a DNS function that answers one record for any name.
constexpr std::string_view kDkimpyArcVerify = R"(import sys, dkim
message = open(sys.argv[1], 'rb').read()
record = open(sys.argv[2], 'rb').read()
cv, results, comment = dkim.arc_verify(message, dnsfunc=lambda name, timeout=5: record)
print(cv.decode(), comment, end='')
)";
// dkimpy's sealer: the new set's fields on top of the message.
constexpr std::string_view kDkimpyArcSign = R"(import sys, dkim
message = open(sys.argv[1], 'rb').read()
key = open(sys.argv[2], 'rb').read()
fields = dkim.arc_sign(message, sys.argv[3].encode(), sys.argv[4].encode(), key,
                       b'mx.dkimpy.test')
sys.stdout.buffer.write(b''.join(fields) + message)
)";

const std::string kMessage =
    "Authentication-Results: mx.dkimpy.test; arc=none; spf=pass smtp.mailfrom=origin.test\r\n"
    "From: Alice <alice@origin.test>\r\n"
    "To: list@lists.test\r\n"
    "Subject: Minutes\r\n"
    "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
    "\r\n"
    "The minutes are attached.\r\n";

class ArcInteropTest : public ::testing::Test {
 protected:
  test_support::TempDir dir_;
  MemoryResolver zone_;
  ManualClock clock_{SystemClock().now()};
  ArcVerifier verifier_{zone_, clock_};
};

TEST_F(ArcInteropTest, HeraldSealsValidateInDkimpy) {
  write(dir_.path() / "verify.py", std::string(kDkimpyArcVerify));
  const DkimKeyPair pair = generate_dkim_key(DkimKeyRecord::KeyType::rsa);
  write(dir_.path() / "record", pair.key_record);
  auto loaded = ArcSealer::from_pem(pair.private_key_pem, "relay.test", "arc");
  ASSERT_TRUE(std::holds_alternative<ArcSealer>(loaded));
  const ArcSealer& sealer = std::get<ArcSealer>(loaded);
  // Two hops by the same sealer: dkimpy checks the second seal over both sets.
  std::string message = kMessage;
  for (ArcChainResult chain : {ArcChainResult::none, ArcChainResult::pass}) {
    auto fields = sealer.seal(MessageContent::from_text(message), "mx.relay.test",
                              "spf=pass smtp.mailfrom=origin.test", chain, SystemClock().now());
    ASSERT_TRUE(std::holds_alternative<std::string>(fields));
    message = std::get<std::string>(fields) + message;
  }
  write(dir_.path() / "message", message);
  const std::string verdict =
      run_python((dir_.path() / "verify.py").string() + " " + (dir_.path() / "message").string() +
                 " " + (dir_.path() / "record").string());
  EXPECT_EQ(verdict.substr(0, 5), "pass ") << verdict;
  std::cout << "[ dkimpy interop ] herald-sealed (2 sets), dkimpy says: " << verdict << "\n";
}

TEST_F(ArcInteropTest, DkimpySealsValidateInHerald) {
  write(dir_.path() / "sign.py", std::string(kDkimpyArcSign));
  write(dir_.path() / "message", kMessage);
  zone_.add_txt("test._domainkey.example.com",
                {record_text(read_file(conformance_path("dkim-dkimpy/test.txt")))});
  const std::string sealed =
      run_python((dir_.path() / "sign.py").string() + " " + (dir_.path() / "message").string() +
                 " " + conformance_path("dkim-dkimpy/test.private") + " test example.com");
  ASSERT_NE(sealed.find("ARC-Seal:"), std::string::npos) << sealed;
  const ArcVerdict verdict = verify_arc_now(verifier_, sealed);
  EXPECT_EQ(verdict.result, ArcChainResult::pass) << verdict.reason << "\n" << sealed;
  EXPECT_EQ(verdict.sealer_domain, "example.com");
  std::cout << "[ dkimpy interop ] dkimpy-sealed, herald says: " << to_string(verdict.result)
            << "\n";
}

}  // namespace
}  // namespace herald
