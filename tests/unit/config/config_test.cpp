#include "config/config.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

using namespace std::chrono_literals;

const char* kMinimal = R"(
[server]
hostname = "MX.Example.Test"
data_dir = "var"
[[listen]]
address = "127.0.0.1:2525"
[[domain]]
name = "Example.Test"
[[user]]
address = "Alice@Example.Test"
)";

Config parse(const std::string& text) {
  return parse_config(text, "/etc/herald/herald.toml");
}

std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Config, MinimalFileGetsSafeDefaults) {
  const Config c = parse(kMinimal);
  EXPECT_EQ(c.server.hostname, "mx.example.test");
  EXPECT_EQ(c.server.data_dir, "/etc/herald/var");
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(c.listen[0].protocol, ListenProtocol::smtp);
  EXPECT_EQ(c.listen[0].host, "127.0.0.1");
  EXPECT_EQ(c.listen[0].port, 2525);
  EXPECT_EQ(c.limits.max_message_size, 52428800u);
  EXPECT_EQ(c.limits.max_recipients, 1000u);
  EXPECT_EQ(c.limits.command_timeout, 300s);
  EXPECT_EQ(c.queue.retry_backoff.size(), 5u);
  EXPECT_EQ(c.queue.max_age, 120h);
  EXPECT_EQ(c.users.at(0).address, "alice@example.test");
  EXPECT_EQ(c.domains.at(0).name, "example.test");
}

TEST(Config, DesignContractExampleParses) {
  const Config c = parse(R"(
[server]
hostname = "mx.example.test"
data_dir = "./var"
[[listen]]
protocol = "smtp"
address  = "127.0.0.1:2525"
[[listen]]
protocol = "submission"
address  = "[::1]:587"
[dns]
servers = ["127.0.0.1:5353"]
[limits]
max_message_size = 52428800
max_recipients = 1000
command_timeout = "5m"
[[domain]]
name = "example.test"
[[user]]
address = "alice@example.test"
password_hash = "$y$j9T$abc"
[[alias]]
address = "postmaster@example.test"
to = ["alice@example.test"]
[[route]]
domain = "partner.test"
to = "127.0.0.1:2526"
[queue]
retry_backoff = ["1m", "5m", "15m", "1h", "4h"]
max_age = "5d"
max_connections_per_destination = 20
[[dkim]]
domain = "example.test"
selector = "s1"
key = "keys/s1.pem"
)");
  EXPECT_EQ(c.listen.at(1).protocol, ListenProtocol::submission);
  EXPECT_EQ(c.listen.at(1).host, "::1");
  EXPECT_EQ(c.listen.at(1).port, 587);
  EXPECT_EQ(c.dns.servers.at(0), "127.0.0.1:5353");
  EXPECT_EQ(c.dns.timeout, 10s);
  EXPECT_EQ(c.aliases.at(0).to.at(0), "alice@example.test");
  EXPECT_EQ(c.routes.at(0).to, "127.0.0.1:2526");
  EXPECT_EQ(c.queue.retry_backoff.at(3), 1h);
  EXPECT_EQ(c.dkim.at(0).key, "/etc/herald/keys/s1.pem");
}

TEST(Config, DnsTimeoutAndAuthLimitsAreReadAsDurationsAndCounts) {
  const Config c = parse(std::string(kMinimal) +
                         "[dns]\ntimeout = \"3s\"\n[limits]\nmax_auth_failures = 3\n"
                         "auth_failure_window = \"1h\"\n");
  EXPECT_EQ(c.dns.timeout, 3s);
  EXPECT_EQ(c.limits.max_auth_failures, 3u);
  EXPECT_EQ(c.limits.auth_failure_window, 1h);
}

TEST(Config, MinFreeSpaceDefaultsToTwiceTheMessageSizeLimit) {
  EXPECT_EQ(parse(kMinimal).queue.min_free_space, 2 * 52428800u);
  const Config c = parse(std::string(kMinimal) + "[limits]\nmax_message_size = 1000000\n");
  EXPECT_EQ(c.queue.min_free_space, 2000000u);
}

TEST(Config, MinFreeSpaceIsZeroOrAtLeastOneAndAHalfMessages) {
  EXPECT_EQ(parse(std::string(kMinimal) + "[queue]\nmin_free_space = 0\n").queue.min_free_space,
            0u);
  const Config c =
      parse(std::string(kMinimal) +
            "[limits]\nmax_message_size = 1000000\n[queue]\nmin_free_space = 1500000\n");
  EXPECT_EQ(c.queue.min_free_space, 1500000u);
  const std::string e = error_of(std::string(kMinimal) +
                                 "[limits]\nmax_message_size = 1000000\n[queue]\nmin_free_space = "
                                 "1499999\n");
  EXPECT_NE(e.find("[queue] 'min_free_space' must be 0 (not checked) or at least 1.5"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("1500000 octets"), std::string::npos) << e;
}

TEST(Config, UnknownKeyIsAnErrorWithItsLocation) {
  const std::string e = error_of(std::string(kMinimal) + "[limits]\nmax_mesage_size = 10\n");
  EXPECT_NE(e.find("herald.toml:12:1"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'max_mesage_size' in [limits]"), std::string::npos) << e;
}

TEST(Config, UnknownTopLevelTableIsAnError) {
  EXPECT_NE(error_of(std::string(kMinimal) + "[lmits]\n").find("unknown key 'lmits'"),
            std::string::npos);
}

TEST(Config, SyntaxErrorNamesLineAndColumn) {
  const std::string e = error_of("[server]\nhostname = \n");
  EXPECT_EQ(e.rfind("herald.toml:2:", 0), 0u) << e;
}

TEST(Config, RunAsUserIsUnsetUnlessGivenAndGroupNeedsAUser) {
  EXPECT_EQ(parse(kMinimal).server.user, "");
  std::string with_user = kMinimal;
  with_user.replace(with_user.find("data_dir"), 0, "user = \"herald\"\ngroup = \"mail\"\n");
  const Config c = parse(with_user);
  EXPECT_EQ(c.server.user, "herald");
  EXPECT_EQ(c.server.group, "mail");
  std::string group_only = kMinimal;
  group_only.replace(group_only.find("data_dir"), 0, "group = \"mail\"\n");
  EXPECT_NE(error_of(group_only).find("'group' needs 'user'"), std::string::npos);
}

TEST(Config, MissingHostnameIsAnError) {
  EXPECT_NE(error_of("[server]\ndata_dir='x'\n").find("needs 'hostname'"), std::string::npos);
}

TEST(Config, BadListenAddressIsAnError) {
  for (const char* address : {"127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", ":25", "::1:25"}) {
    const std::string text = std::string(kMinimal) + "[[listen]]\naddress = \"" + address + "\"\n";
    EXPECT_NE(error_of(text).find("must be IP:PORT"), std::string::npos) << address;
  }
}

TEST(Config, UnknownProtocolIsAnError) {
  const std::string text =
      std::string(kMinimal) + "[[listen]]\nprotocol = \"pop3\"\naddress = \"127.0.0.1:110\"\n";
  EXPECT_NE(error_of(text).find("protocol 'pop3' is not one of"), std::string::npos);
}

TEST(Config, NegativeOrZeroLimitIsAnError) {
  EXPECT_NE(error_of(std::string(kMinimal) + "[limits]\nmax_recipients = 0\n").find("whole number"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kMinimal) + "[limits]\nmax_errors = -3\n").find("whole number"),
            std::string::npos);
}

TEST(Config, CommandLineLimitBelowRfcMinimumIsAnError) {
  EXPECT_NE(error_of(std::string(kMinimal) + "[limits]\nmax_command_line = 100\n").find("512"),
            std::string::npos);
}

TEST(Config, VerificationLimitsHaveDefaultsAndBounds) {
  const Config defaults = parse(kMinimal);
  EXPECT_EQ(defaults.policy.max_signatures, 5u);
  EXPECT_EQ(defaults.limits.verify_threads, 0u);
  const Config set =
      parse(std::string(kMinimal) + "[limits]\nverify_threads = 2\n[policy]\nmax_signatures = 3\n");
  EXPECT_EQ(set.policy.max_signatures, 3u);
  EXPECT_EQ(set.limits.verify_threads, 2u);
  for (const char* bad : {"[policy]\nmax_signatures = 0", "[policy]\nmax_signatures = 51",
                          "[limits]\nverify_threads = -1", "[limits]\nverify_threads = 65"}) {
    const std::string line = std::string(bad).substr(std::string(bad).find('\n') + 1);
    const std::string e = error_of(std::string(kMinimal) + bad + "\n");
    EXPECT_NE(e.find(line.substr(0, line.find(' '))), std::string::npos) << bad << ": " << e;
  }
}

TEST(Config, UserOutsideDeclaredDomainsIsAnError) {
  EXPECT_NE(error_of(std::string(kMinimal) + "[[user]]\naddress = \"bob@other.test\"\n")
                .find("no [[domain]] entry"),
            std::string::npos);
}

TEST(Config, AliasToUnknownTargetIsAnError) {
  const std::string text = std::string(kMinimal) +
                           "[[alias]]\naddress = \"x@example.test\"\nto = \"carol@example.test\"\n";
  EXPECT_NE(error_of(text).find("neither a [[user]] nor an [[alias]]"), std::string::npos);
}

TEST(Config, AliasAcceptsASingleTargetString) {
  const Config c = parse(std::string(kMinimal) +
                         "[[alias]]\naddress = \"x@example.test\"\nto = \"alice@example.test\"\n");
  EXPECT_EQ(c.aliases.at(0).to, std::vector<std::string>{"alice@example.test"});
}

TEST(Config, AliasMayPointToRemoteAddressesBesideLocalOnes) {
  const Config c = parse(std::string(kMinimal) +
                         "[[alias]]\naddress = \"x@example.test\"\n"
                         "to = [\"alice@example.test\", \"Alice.Private@Elsewhere.Test\"]\n");
  EXPECT_EQ(c.aliases.at(0).to,
            (std::vector<std::string>{"alice@example.test", "alice.private@elsewhere.test"}));
}

TEST(Config, AliasToARemoteTargetThatIsNotAnAddressIsAnError) {
  const std::string text =
      std::string(kMinimal) + "[[alias]]\naddress = \"x@example.test\"\nto = \"elsewhere.test\"\n";
  EXPECT_NE(error_of(text).find("not local@domain"), std::string::npos);
}

TEST(Config, SrsDefaultsToTheHostnameAndThreeWeeks) {
  const Config c = parse(kMinimal);
  EXPECT_EQ(c.srs.domain, "mx.example.test");
  EXPECT_TRUE(c.srs.secret.empty());
  EXPECT_TRUE(c.srs.secret_file.empty());
  EXPECT_TRUE(c.srs.previous_secrets.empty());
  EXPECT_EQ(c.srs.max_age, std::chrono::hours(24 * 21));
}

TEST(Config, SrsTableIsRead) {
  const Config c = parse(std::string(kMinimal) +
                         "[srs]\ndomain = \"SRS.Example.Test\"\nsecret_file = \"srs.key\"\n"
                         "previous_secrets = [\"old\"]\nmax_age = \"7d\"\n");
  EXPECT_EQ(c.srs.domain, "srs.example.test");
  EXPECT_EQ(c.srs.secret_file, std::filesystem::path("/etc/herald/srs.key"));
  EXPECT_EQ(c.srs.previous_secrets, std::vector<std::string>{"old"});
  EXPECT_EQ(c.srs.max_age, std::chrono::hours(24 * 7));
}

TEST(Config, SrsSecretAndSecretFileTogetherAreAnError) {
  EXPECT_NE(error_of(std::string(kMinimal) + "[srs]\nsecret = \"s\"\nsecret_file = \"f\"\n")
                .find("not both"),
            std::string::npos);
}

TEST(Config, SrsMaxAgeMustFitTheTimestamp) {
  EXPECT_NE(error_of(std::string(kMinimal) + "[srs]\nmax_age = \"1024d\"\n").find("1023d"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kMinimal) + "[srs]\nmax_age = \"1h\"\n").find("1023d"),
            std::string::npos);
}

TEST(Config, SingleTableWhereArrayOfTablesIsExpectedIsAnError) {
  EXPECT_NE(error_of("[server]\nhostname='a'\ndata_dir='b'\n[listen]\naddress='127.0.0.1:1'\n")
                .find("must be written [[listen]]"),
            std::string::npos);
}

TEST(Config, DestinationsTakeWhatTheyLeaveUnsetFromTheQueueDefaults) {
  const Config c = parse(std::string(kMinimal) + R"(
[queue]
retry_backoff = ["2m"]
max_age = "2d"
max_attempts = 9
max_connections_per_destination = 7
reserved_for_urgent = 2
[[destination]]
domain = "Weekly.Example"
retry_backoff = ["1d"]
max_age = "7d"
max_connections = 1
rate = "10/1m"
[[destination]]
domain = "plain.example"
)");
  ASSERT_EQ(c.destinations.size(), 2u);
  const DestinationConfig& weekly = c.destinations[0];
  EXPECT_EQ(weekly.domain, "weekly.example");
  EXPECT_EQ(weekly.retry_backoff, std::vector<std::chrono::seconds>{24h});
  EXPECT_EQ(weekly.max_age, 168h);
  EXPECT_EQ(weekly.max_attempts, 9u);
  EXPECT_EQ(weekly.max_connections, 1u);
  EXPECT_EQ(weekly.reserved_for_urgent, 2u);
  EXPECT_EQ(weekly.rate_attempts, 10u);
  EXPECT_EQ(weekly.rate_interval, 60s);
  const DestinationConfig& plain = c.destinations[1];
  EXPECT_EQ(plain.retry_backoff, std::vector<std::chrono::seconds>{120s});
  EXPECT_EQ(plain.max_connections, 7u);
  EXPECT_EQ(plain.rate_attempts, 0u);
}

TEST(Config, MalformedRateIsAnError) {
  for (const char* rate : {"10", "0/1m", "10/", "x/1m", "10/1y"}) {
    EXPECT_NE(error_of(std::string(kMinimal) +
                       "[[destination]]\ndomain = \"a.example\"\nrate = \"" + rate + "\"\n")
                  .find("must be ATTEMPTS/DURATION"),
              std::string::npos)
        << rate;
  }
}

TEST(Config, RoutesNameAHostAndAPortThatDefaultsTo25) {
  const Config c = parse(std::string(kMinimal) + R"(
[[route]]
domain = "Partner.Example"
to = "127.0.0.5:2526"
[[route]]
domain = "other.example"
to = "Smarthost.Example"
[[route]]
domain = "v6.example"
to = "[::1]:2527"
)");
  ASSERT_EQ(c.routes.size(), 3u);
  EXPECT_EQ(c.routes[0].domain, "partner.example");
  EXPECT_EQ(c.routes[0].host, "127.0.0.5");
  EXPECT_EQ(c.routes[0].port, 2526);
  EXPECT_EQ(c.routes[1].host, "smarthost.example");
  EXPECT_EQ(c.routes[1].port, 25);
  EXPECT_EQ(c.routes[2].host, "::1");
  EXPECT_EQ(c.routes[2].port, 2527);
  EXPECT_NE(error_of(std::string(kMinimal) + "[[route]]\ndomain = \"a.example\"\nto = \"h:0\"\n")
                .find("must be IP:PORT"),
            std::string::npos);
}

std::string with_trusted_networks(const std::string& networks) {
  return R"(
[server]
hostname = "mx.example.test"
data_dir = "var"
trusted_networks = )" +
         networks + R"(
[[listen]]
address = "127.0.0.1:2525"
)";
}

TEST(Config, TrustedNetworksMustBeNetworks) {
  EXPECT_EQ(parse(with_trusted_networks(R"(["127.0.0.0/8", "::1"])")).server.trusted_networks,
            (std::vector<std::string>{"127.0.0.0/8", "::1"}));
  EXPECT_NE(
      error_of(with_trusted_networks(R"(["10.1.2.3/8"])")).find("is not an address or network"),
      std::string::npos);
}

TEST(Config, PolicyDefaultsVerifyAndLeaveRejectionsToDmarc) {
  const Config c = parse(kMinimal);
  EXPECT_TRUE(c.policy.verify_inbound);
  EXPECT_EQ(c.policy.spf_fail, SpfFailAction::accept);
  EXPECT_EQ(c.policy.dmarc_reject, DmarcRejectAction::reject);
  const Config set = parse(std::string(kMinimal) +
                           "[policy]\nverify_inbound = false\nspf_fail = \"reject\"\n"
                           "dmarc_reject = \"quarantine\"\n");
  EXPECT_FALSE(set.policy.verify_inbound);
  EXPECT_EQ(set.policy.spf_fail, SpfFailAction::reject);
  EXPECT_EQ(set.policy.dmarc_reject, DmarcRejectAction::quarantine);
  EXPECT_NE(error_of(std::string(kMinimal) + "[policy]\nspf_fail = \"drop\"\n")
                .find("'spf_fail' in [policy] must be \"accept\" or \"reject\""),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kMinimal) + "[policy]\nspf = \"reject\"\n").find("spf"),
            std::string::npos);
}

TEST(Config, ArcSealingKeyNeedsVerification) {
  const std::string arc =
      "[arc]\ndomain = \"Example.TEST\"\nselector = \"arc1\"\nkey = \"arc.pem\"\n";
  const Config c = parse(std::string(kMinimal) + arc);
  EXPECT_EQ(c.arc.domain, "example.test");
  EXPECT_EQ(c.arc.selector, "arc1");
  EXPECT_EQ(c.arc.key.filename(), "arc.pem");
  EXPECT_TRUE(c.arc.key.is_absolute());
  EXPECT_TRUE(parse(kMinimal).arc.key.empty());
  EXPECT_NE(error_of(std::string(kMinimal) + "[arc]\ndomain = \"example.test\"\n").find("selector"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kMinimal) + arc + "[policy]\nverify_inbound = false\n")
                .find("[arc] needs [policy] verify_inbound"),
            std::string::npos);
}

TEST(ParseDuration, AcceptsUnits) {
  EXPECT_EQ(parse_duration("90"), 90s);
  EXPECT_EQ(parse_duration("90s"), 90s);
  EXPECT_EQ(parse_duration("5m"), 300s);
  EXPECT_EQ(parse_duration("1h"), 3600s);
  EXPECT_EQ(parse_duration("5d"), 5 * 24h);
  EXPECT_EQ(parse_duration("1w"), 7 * 24h);
}

TEST(ParseDuration, RejectsGarbage) {
  for (const char* bad : {"", "m", "5x", "-5m", "5 m", "1234567890s"}) {
    EXPECT_THROW(parse_duration(bad), ConfigError) << bad;
  }
}

TEST(Config, ExampleConfigurationShippedWithTheProjectIsValid) {
  const Config c = load_config(HERALD_SOURCE_DIR "/examples/herald.toml");
  EXPECT_FALSE(c.listen.empty());
}

TEST(Config, OutboundDeadlinesAndCapsHaveRfc5321Defaults) {
  const OutboundConfig o = parse(kMinimal).outbound;
  EXPECT_EQ(o.greeting_timeout, 5min);  // RFC 5321 4.5.3.2.1 to .6
  EXPECT_EQ(o.mail_timeout, 5min);
  EXPECT_EQ(o.rcpt_timeout, 5min);
  EXPECT_EQ(o.data_init_timeout, 2min);
  EXPECT_EQ(o.data_block_timeout, 3min);
  EXPECT_EQ(o.data_timeout, 10min);
  EXPECT_EQ(o.attempt_timeout, 15min);
  EXPECT_EQ(o.max_mx_hosts, 5u);
  EXPECT_EQ(o.max_addresses, 10u);
}

// The greeting, MAIL and RCPT waits were command_timeout's before they had keys.
TEST(Config, OutboundGreetingMailAndRcptTimeoutsFollowCommandTimeoutUnlessSet) {
  const OutboundConfig o = parse(std::string(kMinimal) +
                                 "[outbound]\ncommand_timeout = \"1m\"\nrcpt_timeout = \"7m\"\n"
                                 "attempt_timeout = \"20m\"\nmax_addresses = 3\n")
                               .outbound;
  EXPECT_EQ(o.greeting_timeout, 1min);
  EXPECT_EQ(o.mail_timeout, 1min);
  EXPECT_EQ(o.rcpt_timeout, 7min);
  EXPECT_EQ(o.attempt_timeout, 20min);
  EXPECT_EQ(o.max_addresses, 3u);
}

TEST(Config, ZeroOutboundTimeoutIsAnError) {
  EXPECT_NE(error_of(std::string(kMinimal) + "[outbound]\nattempt_timeout = 0\n")
                .find("[outbound] 'attempt_timeout' must be at least 1s"),
            std::string::npos);
}

}  // namespace
}  // namespace herald
