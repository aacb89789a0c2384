#include "smtp/command.h"

#include <gtest/gtest.h>

#include <string>

namespace herald {
namespace {

Command parsed(std::string_view line) {
  return parse_command(line);
}

TEST(CommandParser, VerbsAreCaseInsensitive) {
  EXPECT_EQ(parsed("ehlo client.example").verb, Verb::ehlo);
  EXPECT_EQ(parsed("Quit").verb, Verb::quit);
  EXPECT_EQ(parsed("sTaRtTlS").verb, Verb::starttls);
}

TEST(CommandParser, UnknownVerbIsUnrecognized) {
  EXPECT_EQ(parsed("HELLO there").error, CommandError::unrecognized);
  EXPECT_EQ(parsed("").error, CommandError::unrecognized);
  EXPECT_EQ(parsed("MAILFROM:<a@b.example>").error, CommandError::unrecognized);
}

TEST(CommandParser, EhloTakesADomainOrAnAddressLiteral) {
  EXPECT_EQ(parsed("EHLO client.example").helo_domain, "client.example");
  EXPECT_EQ(parsed("EHLO localhost").error, CommandError::none);
  EXPECT_EQ(parsed("EHLO [192.0.2.1]").helo_domain, "[192.0.2.1]");
  EXPECT_EQ(parsed("EHLO [IPv6:2001:db8::1]").error, CommandError::none);
  EXPECT_EQ(parsed("HELO client.example   ").helo_domain, "client.example");
}

TEST(CommandParser, EhloWithoutAnArgumentOrWithSeveralIsASyntaxError) {
  EXPECT_EQ(parsed("EHLO").error, CommandError::syntax);
  EXPECT_EQ(parsed("EHLO ").error, CommandError::syntax);
  EXPECT_EQ(parsed("EHLO two words").error, CommandError::syntax);
  EXPECT_EQ(parsed("EHLO tab\tseparated").error, CommandError::syntax);
}

// RFC 5321 4.1.4: a name that does not check out is no reason to refuse mail, and clients
// in the wild send these; they are recorded as given.
TEST(CommandParser, EhloAcceptsHostNamesThatAreNotStrictDomains) {
  for (const char* name : {"under_score.example", "client..example", "-client.example",
                           "client.example.", "[192.0.2.256]", "DESKTOP-1234"}) {
    const Command c = parsed(std::string("EHLO ") + name);
    EXPECT_EQ(c.error, CommandError::none) << name;
    EXPECT_EQ(c.helo_domain, name);
  }
}

TEST(CommandParser, MailFromTakesAPath) {
  const Command c = parsed("MAIL FROM:<sender@client.example>");
  EXPECT_EQ(c.verb, Verb::mail);
  EXPECT_EQ(c.error, CommandError::none);
  EXPECT_EQ(c.path.local_part, "sender");
  EXPECT_EQ(c.path.domain, "client.example");
  EXPECT_EQ(c.path.address(), "sender@client.example");
  EXPECT_FALSE(c.path.non_ascii);
}

TEST(CommandParser, MailFromAcceptsTheNullPath) {
  const Command c = parsed("MAIL FROM:<>");
  EXPECT_EQ(c.error, CommandError::none);
  EXPECT_TRUE(c.path.is_null());
  EXPECT_EQ(c.path.address(), "");
}

TEST(CommandParser, KeywordsAndASpaceAfterTheColonAreTolerated) {
  EXPECT_EQ(parsed("mail from:<a@b.example>").error, CommandError::none);
  EXPECT_EQ(parsed("MAIL FROM: <a@b.example>").error, CommandError::none);
  EXPECT_EQ(parsed("RCPT To:<a@b.example>").error, CommandError::none);
}

TEST(CommandParser, MailWithoutFromIsASyntaxError) {
  EXPECT_EQ(parsed("MAIL").error, CommandError::syntax);
  EXPECT_EQ(parsed("MAIL TO:<a@b.example>").error, CommandError::syntax);
  EXPECT_EQ(parsed("MAIL FROM").error, CommandError::syntax);
}

TEST(CommandParser, PathsNeedAngleBrackets) {
  EXPECT_EQ(parsed("MAIL FROM:a@b.example").error, CommandError::bad_path);
  EXPECT_EQ(parsed("MAIL FROM:<a@b.example").error, CommandError::bad_path);
  EXPECT_EQ(parsed("RCPT TO:a@b.example").error, CommandError::bad_path);
  EXPECT_EQ(parsed("MAIL FROM:<a@b.example>x").error, CommandError::bad_path);
}

TEST(CommandParser, MailboxSyntaxIsStrict) {
  for (const char* bad :
       {"<@b.example>", "<a@>", "<a>", "<a@b.example.>", "<.a@b.example>", "<a.@b.example>",
        "<a..b@b.example>", "<a b@b.example>", "<a@b_c.example>", "<a@-b.example>",
        "<a@@b.example>", "<\"unterminated@b.example>", "<a@[300.1.1.1]>", "<a@[]>"}) {
    EXPECT_EQ(parsed(std::string("RCPT TO:") + bad).error, CommandError::bad_path) << bad;
  }
}

TEST(CommandParser, QuotedLocalPartsAreAccepted) {
  const Command c = parsed("RCPT TO:<\"john doe\"@b.example>");
  EXPECT_EQ(c.error, CommandError::none);
  EXPECT_EQ(c.path.local_part, "\"john doe\"");
  EXPECT_EQ(parsed("RCPT TO:<\"a\\\"b\"@b.example>").error, CommandError::none);
}

TEST(CommandParser, QuotedLocalPartThatIsADotStringIsUnquoted) {
  EXPECT_EQ(parsed("RCPT TO:<\"alice\"@example.test>").path.address(), "alice@example.test");
}

TEST(CommandParser, AtextSpecialsAreValidInDotStrings) {
  const Command c = parsed("RCPT TO:<a!#$%&'*+-/=?^_`{|}~z@b.example>");
  EXPECT_EQ(c.error, CommandError::none);
}

TEST(CommandParser, AddressLiteralDomainsAreAccepted) {
  EXPECT_EQ(parsed("RCPT TO:<a@[192.0.2.1]>").path.domain, "[192.0.2.1]");
  EXPECT_EQ(parsed("RCPT TO:<a@[IPv6:::1]>").error, CommandError::none);
  EXPECT_EQ(parsed("RCPT TO:<a@[x-tag:content]>").error, CommandError::none);
}

TEST(CommandParser, SourceRoutesAreAcceptedAndIgnored) {
  const Command c = parsed("RCPT TO:<@relay1.example,@relay2.example:alice@example.test>");
  EXPECT_EQ(c.error, CommandError::none);
  EXPECT_EQ(c.path.address(), "alice@example.test");
  EXPECT_EQ(parsed("RCPT TO:<@relay1.example:>").error, CommandError::bad_path);
  EXPECT_EQ(parsed("RCPT TO:<@relay1.example,alice@example.test>").error, CommandError::bad_path);
}

TEST(CommandParser, BarePostmasterIsAcceptedOnlyAsARecipient) {
  const Command c = parsed("RCPT TO:<Postmaster>");
  EXPECT_EQ(c.error, CommandError::none);
  EXPECT_EQ(c.path.address(), "Postmaster");
  EXPECT_TRUE(c.path.domain.empty());
  EXPECT_EQ(parsed("RCPT TO:<postmaster>").error, CommandError::none);
  EXPECT_EQ(parsed("MAIL FROM:<Postmaster>").error, CommandError::bad_path);
  EXPECT_EQ(parsed("RCPT TO:<webmaster>").error, CommandError::bad_path);
}

TEST(CommandParser, NullPathIsNotARecipient) {
  EXPECT_EQ(parsed("RCPT TO:<>").error, CommandError::bad_path);
}

TEST(CommandParser, PathsLongerThan256OctetsAreRefused) {
  // "<" + local + "@" + domain + ">" = 256 octets exactly is the limit.
  const std::string domain = std::string(63, 'd') + "." + std::string(63, 'd') + ".example";
  const std::string fits(256 - 3 - domain.size(), 'l');
  EXPECT_EQ(parsed("RCPT TO:<" + fits + "@" + domain + ">").error, CommandError::none);
  EXPECT_EQ(parsed("RCPT TO:<" + fits + "l@" + domain + ">").error, CommandError::bad_path);
}

TEST(CommandParser, SizeBodyAndSmtputf8ParametersAreParsed) {
  const Command c = parsed("MAIL FROM:<a@b.example> SIZE=12345 BODY=8BITMIME SMTPUTF8");
  EXPECT_EQ(c.error, CommandError::none);
  ASSERT_TRUE(c.mail.size.has_value());
  EXPECT_EQ(*c.mail.size, 12345u);
  EXPECT_EQ(c.mail.body, BodyType::eight_bit_mime);
  EXPECT_TRUE(c.mail.smtputf8);
  EXPECT_EQ(parsed("MAIL FROM:<> body=7bit").mail.body, BodyType::seven_bit);
}

TEST(CommandParser, HugeSizeSaturates) {
  const Command c = parsed("MAIL FROM:<> SIZE=99999999999999999999");
  EXPECT_EQ(c.error, CommandError::none);
  EXPECT_EQ(*c.mail.size, UINT64_MAX);
}

TEST(CommandParser, MalformedKnownParametersAreSyntaxErrors) {
  for (const char* bad : {"SIZE=", "SIZE=12a", "SIZE", "SIZE=1 SIZE=2", "BODY=9BIT", "BODY",
                          "SMTPUTF8=yes", "=x", "SIZE=123456789012345678901"}) {
    EXPECT_EQ(parsed(std::string("MAIL FROM:<a@b.example> ") + bad).error, CommandError::syntax)
        << bad;
  }
}

TEST(CommandParser, UnknownParametersAreReportedByName) {
  const Command c = parsed("MAIL FROM:<a@b.example> SIZE=10 X-FOO=bar");
  EXPECT_EQ(c.error, CommandError::unsupported_parameter);
  EXPECT_EQ(c.error_detail, "X-FOO");
  EXPECT_EQ(parsed("MAIL FROM:<a@b.example> BODY=BINARYMIME").error_detail, "BODY=BINARYMIME");
  const Command rcpt = parsed("RCPT TO:<a@b.example> NOTIFY=NEVER X-BAR");
  EXPECT_EQ(rcpt.error, CommandError::unsupported_parameter);
  EXPECT_EQ(rcpt.error_detail, "X-BAR");
}

TEST(CommandParser, DsnMailParametersAreParsedAndEnvidIsXtextDecoded) {
  const Command c = parsed("MAIL FROM:<a@b.example> RET=HDRS ENVID=abc+2Bdef");
  ASSERT_EQ(c.error, CommandError::none);
  EXPECT_EQ(c.mail.ret, DsnReturn::headers);
  EXPECT_EQ(c.mail.envid, "abc+def");
  EXPECT_EQ(parsed("MAIL FROM:<> ret=full").mail.ret, DsnReturn::full);
  EXPECT_EQ(parsed("MAIL FROM:<>").mail.ret, DsnReturn::unspecified);
}

TEST(CommandParser, BadDsnMailParametersAreSyntaxErrors) {
  for (const char* bad : {"RET=ALL", "RET", "RET=FULL RET=HDRS", "ENVID=a+2", "ENVID=a+2b",
                          "ENVID=a+ZZ", "ENVID", "ENVID=x ENVID=y"}) {
    EXPECT_EQ(parsed(std::string("MAIL FROM:<a@b.example> ") + bad).error, CommandError::syntax)
        << bad;
  }
  const std::string long_envid(101, 'x');
  EXPECT_EQ(parsed("MAIL FROM:<a@b.example> ENVID=" + long_envid).error, CommandError::syntax);
}

TEST(CommandParser, ByParameterTakesSecondsModeAndTrace) {
  const Command n = parsed("MAIL FROM:<a@b.example> BY=3600;N");
  ASSERT_EQ(n.error, CommandError::none);
  ASSERT_TRUE(n.mail.by.has_value());
  EXPECT_EQ(n.mail.by->seconds, 3600);
  EXPECT_EQ(n.mail.by->mode, DeliverByMode::notify_if_late);
  EXPECT_FALSE(n.mail.by->trace);
  const Command r = parsed("MAIL FROM:<a@b.example> BY=+120;RT");
  ASSERT_EQ(r.error, CommandError::none);
  EXPECT_EQ(r.mail.by->seconds, 120);
  EXPECT_EQ(r.mail.by->mode, DeliverByMode::return_if_late);
  EXPECT_TRUE(r.mail.by->trace);
}

// RFC 2852 4: zero and negative times are for mode N only.
TEST(CommandParser, ZeroOrNegativeByTimeIsAllowedOnlyWithModeN) {
  EXPECT_EQ(parsed("MAIL FROM:<a@b.example> BY=-30;N").mail.by->seconds, -30);
  EXPECT_EQ(parsed("MAIL FROM:<a@b.example> BY=0;N").error, CommandError::none);
  EXPECT_EQ(parsed("MAIL FROM:<a@b.example> BY=0;R").error, CommandError::syntax);
  EXPECT_EQ(parsed("MAIL FROM:<a@b.example> BY=-30;R").error, CommandError::syntax);
}

TEST(CommandParser, BadByParametersAreSyntaxErrors) {
  for (const char* bad : {"BY=60", "BY=60;", "BY=60;X", "BY=60;NX", "BY=60;NTT", "BY=;N",
                          "BY=1234567890;N", "BY=6a;N", "BY=60;N BY=70;N", "BY"}) {
    EXPECT_EQ(parsed(std::string("MAIL FROM:<a@b.example> ") + bad).error, CommandError::syntax)
        << bad;
  }
}

TEST(CommandParser, MtPriorityTakesMinus9To9) {
  EXPECT_EQ(*parsed("MAIL FROM:<a@b.example> MT-PRIORITY=3").mail.priority, 3);
  EXPECT_EQ(*parsed("MAIL FROM:<a@b.example> MT-PRIORITY=-9").mail.priority, -9);
  EXPECT_EQ(*parsed("MAIL FROM:<a@b.example> MT-PRIORITY=0").mail.priority, 0);
  EXPECT_FALSE(parsed("MAIL FROM:<a@b.example>").mail.priority.has_value());
  for (const char* bad : {"MT-PRIORITY=10", "MT-PRIORITY=-10", "MT-PRIORITY=+3", "MT-PRIORITY=-0",
                          "MT-PRIORITY=03", "MT-PRIORITY", "MT-PRIORITY=1 MT-PRIORITY=2"}) {
    EXPECT_EQ(parsed(std::string("MAIL FROM:<a@b.example> ") + bad).error, CommandError::syntax)
        << bad;
  }
}

TEST(CommandParser, NotifyAndOrcptAreParsed) {
  const Command c =
      parsed("RCPT TO:<alice@b.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;alice+40b.example");
  ASSERT_EQ(c.error, CommandError::none);
  EXPECT_EQ(c.rcpt.notify, (NotifyRequest{true, true, true, false}));
  EXPECT_EQ(c.rcpt.original_recipient, "rfc822;alice@b.example");
  EXPECT_EQ(parsed("RCPT TO:<a@b.example> notify=never").rcpt.notify,
            (NotifyRequest{true, false, false, false}));
  EXPECT_EQ(parsed("RCPT TO:<a@b.example> NOTIFY=DELAY").rcpt.notify,
            (NotifyRequest{true, false, false, true}));
  EXPECT_FALSE(parsed("RCPT TO:<a@b.example>").rcpt.notify.given);
}

TEST(CommandParser, BadNotifyAndOrcptAreSyntaxErrors) {
  for (const char* bad :
       {"NOTIFY=NEVER,SUCCESS", "NOTIFY=SUCCESS,SUCCESS", "NOTIFY=", "NOTIFY=ALWAYS",
        "NOTIFY=SUCCESS,", "NOTIFY", "NOTIFY=DELAY NOTIFY=FAILURE", "ORCPT=alice@b.example",
        "ORCPT=rfc822;", "ORCPT=;a@b", "ORCPT=rfc822;a+4", "ORCPT=rfc822;a@b ORCPT=rfc822;c@d"}) {
    EXPECT_EQ(parsed(std::string("RCPT TO:<a@b.example> ") + bad).error, CommandError::syntax)
        << bad;
  }
}

TEST(CommandParser, QuotedSpacesDoNotSplitParameters) {
  const Command c = parsed("MAIL FROM:<\"a b\"@b.example> SIZE=5");
  EXPECT_EQ(c.error, CommandError::none);
  EXPECT_EQ(*c.mail.size, 5u);
}

TEST(CommandParser, Utf8AddressesAreMarkedNonAscii) {
  const Command c = parsed("RCPT TO:<j\xC3\xB6rg@b\xC3\xBC\x63her.example>");
  EXPECT_EQ(c.error, CommandError::none);
  EXPECT_TRUE(c.path.non_ascii);
  EXPECT_EQ(parsed("RCPT TO:<\xC3\x28@b.example>").error, CommandError::bad_path);      // bad UTF-8
  EXPECT_EQ(parsed("RCPT TO:<\xC0\xAF@b.example>").error, CommandError::bad_path);      // overlong
  EXPECT_EQ(parsed("RCPT TO:<\xED\xA0\x80@b.example>").error, CommandError::bad_path);  // surrogate
  EXPECT_EQ(parsed("EHLO b\xC3\xBC\x63her.example").error, CommandError::syntax);
}

TEST(CommandParser, BdatTakesASizeAndAnOptionalLast) {
  const Command c = parsed("BDAT 1000");
  EXPECT_EQ(c.error, CommandError::none);
  EXPECT_EQ(c.chunk_size, 1000u);
  EXPECT_FALSE(c.last_chunk);
  const Command last = parsed("bdat 0 last");
  EXPECT_EQ(last.chunk_size, 0u);
  EXPECT_TRUE(last.last_chunk);
  for (const char* bad : {"BDAT", "BDAT x", "BDAT -1", "BDAT 10 FIRST", "BDAT 10  LAST",
                          "BDAT 1234567890123456789"}) {
    EXPECT_EQ(parsed(bad).error, CommandError::syntax) << bad;
  }
}

TEST(CommandParser, ArgumentlessVerbsRefuseArguments) {
  EXPECT_EQ(parsed("DATA").error, CommandError::none);
  EXPECT_EQ(parsed("DATA now").error, CommandError::syntax);
  EXPECT_EQ(parsed("STARTTLS please").error, CommandError::syntax);
  EXPECT_EQ(parsed("QUIT ").error, CommandError::none);
}

TEST(CommandParser, NoopAndHelpTakeOptionalText) {
  EXPECT_EQ(parsed("NOOP").error, CommandError::none);
  EXPECT_EQ(parsed("NOOP anything at all").text, "anything at all");
  EXPECT_EQ(parsed("HELP MAIL").text, "MAIL");
  EXPECT_EQ(parsed("VRFY").error, CommandError::syntax);
  EXPECT_EQ(parsed("VRFY alice").text, "alice");
}

TEST(CommandParser, NeverCrashesOnArbitraryBytes) {
  std::string line;
  for (int i = 0; i < 4096; ++i) {
    line.push_back(static_cast<char>((i * 7919) % 256));
    parse_command(line);
    parse_command("MAIL FROM:<" + line);
    parse_command("RCPT TO:<\"" + line);
    parse_command("EHLO [" + line);
  }
}

}  // namespace
}  // namespace herald
