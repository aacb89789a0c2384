#include "mime/header.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

TEST(HeaderField, ShortFieldIsOneLine) {
  EXPECT_EQ(header_field("Subject", "hello"), "Subject: hello\r\n");
}

TEST(HeaderField, LongFieldFoldsBeforeSpacesWithin78Characters) {
  const std::string value =
      "smtp; 550 5.1.1 <alice@example.test>: Recipient address rejected: User unknown in "
      "virtual mailbox table";
  EXPECT_EQ(header_field("Diagnostic-Code", value),
            "Diagnostic-Code: smtp; 550 5.1.1 <alice@example.test>: Recipient address\r\n"
            " rejected: User unknown in virtual mailbox table\r\n");
}

TEST(HeaderField, UnfoldingGivesBackTheValue) {
  std::string value;
  for (int i = 0; i < 40; ++i) value += "word" + std::to_string(i) + "  ";
  std::string folded = header_field("X", value);
  for (size_t at; (at = folded.find("\r\n ")) != std::string::npos;) folded.erase(at, 2);
  EXPECT_EQ(folded, "X: " + value + "\r\n");
}

TEST(HeaderField, ControlCharactersCannotStartAnotherField) {
  EXPECT_EQ(header_field("Diagnostic-Code", "smtp; 550 no\r\nX-Injected: yes"),
            "Diagnostic-Code: smtp; 550 no  X-Injected: yes\r\n");
}

TEST(HeaderField, OverlongWordIsCutBelowTheHardLimit) {
  const std::string folded = header_field("X", std::string(3000, 'a'));
  size_t start = 0;
  for (size_t end; (end = folded.find("\r\n", start)) != std::string::npos; start = end + 2) {
    EXPECT_LE(end - start, 998u);
  }
  EXPECT_EQ(start, folded.size());
}

TEST(HeaderDate, IsRfc5322InUtc) {
  EXPECT_EQ(header_date(from_unix_ms(1'700'000'000'000)), "Tue, 14 Nov 2023 22:13:20 +0000");
}

}  // namespace
}  // namespace herald
