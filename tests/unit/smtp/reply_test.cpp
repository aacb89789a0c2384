#include "smtp/reply.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

TEST(Reply, OneLineCarriesTheEnhancedCode) {
  EXPECT_EQ(make_reply(250, "2.1.0", "Sender OK").wire(), "250 2.1.0 Sender OK\r\n");
}

TEST(Reply, WithoutEnhancedCodeOnlyTheCodeLeads) {
  EXPECT_EQ(make_reply(220, "", "mx.example.test ESMTP herald").wire(),
            "220 mx.example.test ESMTP herald\r\n");
}

TEST(Reply, MultiLineUsesHyphensExceptOnTheLastLine) {
  Reply r;
  r.code = 250;
  r.lines = {"mx.example.test greets client", "PIPELINING", "CHUNKING"};
  EXPECT_EQ(r.wire(), "250-mx.example.test greets client\r\n250-PIPELINING\r\n250 CHUNKING\r\n");
}

TEST(Reply, MultiLineRepeatsTheEnhancedCodeOnEveryLine) {
  Reply r;
  r.code = 214;
  r.enhanced = "2.0.0";
  r.lines = {"one", "two"};
  EXPECT_EQ(r.wire(), "214-2.0.0 one\r\n214 2.0.0 two\r\n");
}

}  // namespace
}  // namespace herald
