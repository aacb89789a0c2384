// An independent reading of herald's DSN: Python's standard `email` package (Debian's
// /usr/bin/python3) parses a generated report, and the test checks what it found.
#include <gtest/gtest.h>

#include <fstream>

#include "mime/dsn.h"
#include "support/run_python.h"
#include "support/temp_dir.h"

namespace herald {
namespace {

// Prints what the parser saw, one fact a line; folded header values are unfolded.
constexpr const char* kReader = R"(import email, re, sys
with open(sys.argv[1], 'rb') as f:
    m = email.message_from_binary_file(f)
unfold = lambda v: re.sub(r'\r?\n', '', v)
print('type', m.get_content_type(), m.get_param('report-type'), len(m.defects))
parts = m.get_payload()
print('parts', len(parts))
for p in parts:
    print('part', p.get_content_type(), len(p.defects))
for g in parts[1].get_payload():
    print('group')
    for k, v in g.items():
        print(k + ': ' + unfold(v))
print('returned subject', parts[2].get_payload()[0]['Subject'])
)";

std::string run_reader(const test_support::TempDir& dir, const std::string& message) {
  std::ofstream(dir.path() / "reader.py") << kReader;
  std::ofstream(dir.path() / "dsn.eml", std::ios::binary) << message;
  return test_support::run_python((dir.path() / "reader.py").string() + " " +
                                  (dir.path() / "dsn.eml").string());
}

TEST(DsnPythonEmail, ParsesAsAThreePartDeliveryStatusReport) {
  DsnOriginal original;
  original.envelope_sender = "bob@sender.test";
  original.arrival = from_unix_ms(1'700'000'000'000);
  const MessageContent content =
      MessageContent::from_text("From: bob@sender.test\r\nSubject: hello\r\n\r\nHi\r\n");
  original.content = &content;
  original.body_type = "7BIT";
  original.ret = DsnReturn::full;
  original.envid = "QQ314159+2Bx";

  DsnRecipient failed;
  failed.final_recipient = "alice@example.test";
  failed.orcpt = "rfc822;Alice+2Bsales@example.test";
  failed.status = "5.1.1";
  failed.remote_mta = "mx.example.test";
  failed.diagnostic_code =
      "smtp; 550 5.1.1 <alice@example.test>: Recipient address rejected: User unknown in "
      "virtual mailbox table";
  DsnRecipient delayed;
  delayed.final_recipient = "carol@example.test";
  delayed.action = DsnAction::delayed;
  delayed.status = "4.4.7";
  delayed.will_retry_until = original.arrival + std::chrono::hours(24);

  DsnRequest request;
  request.reporting_mta = "relay.herald.test";
  request.id = "01HF7YAT00ABCDEFGHJKMNPQRS";
  request.now = original.arrival + std::chrono::hours(1);
  request.recipients = {failed, delayed};

  const test_support::TempDir dir;
  EXPECT_EQ(run_reader(dir, build_dsn(original, request).content),
            "type multipart/report delivery-status 0\n"
            "parts 3\n"
            "part text/plain 0\n"
            "part message/delivery-status 0\n"
            "part message/rfc822 0\n"
            "group\n"
            "Original-Envelope-Id: QQ314159+x\n"
            "Reporting-MTA: dns; relay.herald.test\n"
            "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
            "group\n"
            "Original-Recipient: rfc822;Alice+sales@example.test\n"
            "Final-Recipient: rfc822;alice@example.test\n"
            "Action: failed\n"
            "Status: 5.1.1\n"
            "Remote-MTA: dns; mx.example.test\n"
            "Diagnostic-Code: smtp; 550 5.1.1 <alice@example.test>: Recipient address rejected: "
            "User unknown in virtual mailbox table\n"
            "group\n"
            "Final-Recipient: rfc822;carol@example.test\n"
            "Action: delayed\n"
            "Status: 4.4.7\n"
            "Will-Retry-Until: Wed, 15 Nov 2023 22:13:20 +0000\n"
            "returned subject hello\n");
}

}  // namespace
}  // namespace herald
