#include "smtp/received_header.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "mime/header.h"

namespace herald {
namespace {

ReceivedFields example() {
  ReceivedFields f;
  f.helo = "client.example";
  f.peer_ip = "192.0.2.1";
  f.hostname = "mx.example.test";
  f.protocol = "ESMTPS";
  f.id = "01HZY3J5V8K2M4N6P8Q0R2S4T6";
  f.tls_version = "TLSv1.3";
  f.tls_cipher = "TLS_AES_256_GCM_SHA384";
  f.single_recipient = "alice@example.test";
  f.at = from_unix_ms(1'704'207'845'000);  // 2024-01-02 15:04:05 UTC
  return f;
}

TEST(ReceivedHeader, HasTheRfc5321ClausesOnFoldedLines) {
  EXPECT_EQ(received_header(example()),
            "Received: from client.example ([192.0.2.1])\r\n"
            "\tby mx.example.test (herald) with ESMTPS id 01HZY3J5V8K2M4N6P8Q0R2S4T6\r\n"
            "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n"
            "\tfor <alice@example.test>; Tue, 02 Jan 2024 15:04:05 +0000\r\n");
}

TEST(ReceivedHeader, WithoutTlsOrASingleRecipientThoseClausesAreLeftOut) {
  ReceivedFields f = example();
  f.protocol = "ESMTP";
  f.tls_version.clear();
  f.tls_cipher.clear();
  f.single_recipient.clear();
  EXPECT_EQ(received_header(f),
            "Received: from client.example ([192.0.2.1])\r\n"
            "\tby mx.example.test (herald) with ESMTP id 01HZY3J5V8K2M4N6P8Q0R2S4T6;\r\n"
            "\tTue, 02 Jan 2024 15:04:05 +0000\r\n");
}

TEST(ReceivedHeader, Ipv6PeersGetTheIpv6Tag) {
  ReceivedFields f = example();
  f.peer_ip = "2001:db8::1";
  EXPECT_NE(received_header(f).find("([IPv6:2001:db8::1])"), std::string::npos);
}

TEST(ReceivedHeader, LongPartsAreFoldedUnder78Characters) {
  ReceivedFields f = example();
  f.helo = std::string(40, 'h') + ".example";
  f.hostname = std::string(40, 'm') + ".example.test";
  std::istringstream lines(received_header(f));
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    ++count;
    ASSERT_FALSE(line.empty());
    EXPECT_EQ(line.back(), '\r');
    EXPECT_LE(line.size() - 1, 78u) << line;
    if (count > 1) {
      EXPECT_EQ(line.front(), '\t');
    }
  }
  EXPECT_GE(count, 5);
}

TEST(Rfc5322Date, IsInUtcWithTwoDigitDay) {
  EXPECT_EQ(header_date(from_unix_ms(0)), "Thu, 01 Jan 1970 00:00:00 +0000");
}

}  // namespace
}  // namespace herald
