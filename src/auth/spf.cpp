#include "auth/spf.h"

#include <arpa/inet.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <exception>
#include <optional>
#include <variant>

#include "auth/spf_awaitable.h"
#include "auth/spf_macro.h"
#include "auth/spf_record.h"
#include "dns/awaitable.h"

namespace herald {
namespace {

namespace asio = boost::asio;

struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4 in the first four
};

// RFC 7208 5: an IPv4-mapped IPv6 client (::ffff:a.b.c.d) is checked as the IPv4 address.
std::optional<IpAddress> parse_ip(const std::string& text) {
  IpAddress ip;
  if (inet_pton(AF_INET, text.c_str(), ip.bytes.data()) == 1) return ip;
  if (inet_pton(AF_INET6, text.c_str(), ip.bytes.data()) != 1) return std::nullopt;
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMapped, kMapped + 12, ip.bytes.begin())) {
    std::copy(ip.bytes.begin() + 12, ip.bytes.end(), ip.bytes.begin());
    std::fill(ip.bytes.begin() + 4, ip.bytes.end(), 0);
    return ip;
  }
  ip.v6 = true;
  return ip;
}

bool in_network(const IpAddress& ip, const IpAddress& network, int prefix) {
  if (ip.v6 != network.v6) return false;
  for (int bit = 0; bit < prefix; ++bit) {
    uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
    if ((ip.bytes[bit / 8] & mask) != (network.bytes[bit / 8] & mask)) return false;
  }
  return true;
}

std::string ip_text(const IpAddress& ip) {
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(ip.v6 ? AF_INET6 : AF_INET, ip.bytes.data(), buffer, sizeof buffer);
  return buffer;
}

// RFC 7208 7.3 %{i}: dotted quad, or for IPv6 the 32 nibbles separated by dots, in upper
// case as in the RFC's 7.4 examples.
std::string ip_macro_text(const IpAddress& ip) {
  if (!ip.v6) return ip_text(ip);
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (uint8_t byte : ip.bytes) {
    if (!out.empty()) out += '.';
    out += kHex[byte >> 4];
    out += '.';
    out += kHex[byte & 15];
  }
  return out;
}

// RFC 7208 5.5: the reverse name the ptr mechanism and %{p} look up.
std::string reverse_name(const IpAddress& ip) {
  std::string name;
  if (!ip.v6) {
    for (int i = 3; i >= 0; --i) name += std::to_string(ip.bytes[i]) + ".";
    return name + "in-addr.arpa";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    name += kHex[ip.bytes[i] & 15];
    name += '.';
    name += kHex[ip.bytes[i] >> 4];
    name += '.';
  }
  return name + "ip6.arpa";
}

// RFC 7208 4.3: a domain that is not a multi-label name of valid labels gives "none"
// before any DNS query.
bool is_checkable_domain(std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  if (domain.empty() || domain.size() > 253) return false;
  int labels = 0;
  size_t start = 0;
  while (true) {
    size_t dot = domain.find('.', start);
    size_t length = (dot == domain.npos ? domain.size() : dot) - start;
    if (length == 0 || length > 63) return false;
    for (char c : domain.substr(start, length)) {
      // Domain literals ("[192.0.2.1]") and other non-name text are not checkable.
      if (c == '[' || c == ']' || c == ' ' || c == '@' || c == ':') return false;
    }
    ++labels;
    if (dot == domain.npos) break;
    start = dot + 1;
  }
  return labels >= 2;
}

// Whether `name` is `domain` or a subdomain of it; both normalised first, since DNS names
// compare without regard to case (RFC 4343).
bool ends_with_domain(std::string_view name_text, std::string_view domain_text) {
  std::string name = normalize_dns_name(name_text);
  std::string domain = normalize_dns_name(domain_text);
  if (name == domain) return true;
  return name.size() > domain.size() && name.ends_with(domain) &&
         name[name.size() - domain.size() - 1] == '.';
}

// RFC 7208 7.3: an expanded domain longer than 253 octets loses labels from the left.
std::string shorten_domain(std::string name) {
  while (!name.empty() && name.back() == '.') name.pop_back();
  while (name.size() > 253) {
    size_t dot = name.find('.');
    if (dot == name.npos) break;
    name.erase(0, dot + 1);
  }
  return name;
}

SpfResult qualifier_result(SpfQualifier qualifier) {
  switch (qualifier) {
    case SpfQualifier::pass:
      return SpfResult::pass;
    case SpfQualifier::fail:
      return SpfResult::fail;
    case SpfQualifier::softfail:
      return SpfResult::softfail;
    case SpfQualifier::neutral:
      return SpfResult::neutral;
  }
  return SpfResult::neutral;
}

// What evaluating one mechanism gave: it matched, it did not, or the check must end with
// an error result.
struct Step {
  enum Kind { no_match, match, error } kind = no_match;
  SpfResult error_result = SpfResult::permerror;
  std::string reason;

  static Step fail_with(SpfResult result, std::string reason) {
    return {error, result, std::move(reason)};
  }
};

// One check_host() run with its shared budgets (RFC 7208 4.6.4 counts across include and
// redirect).
class Check {
 public:
  Check(Resolver& resolver, const SpfRequest& request, const SpfOptions& options)
      : resolver_(resolver),
        options_(options),
        clock_(options.clock ? *options.clock : system_clock_),
        deadline_(clock_.now() + options.time_limit) {
    values_.helo = request.helo;
    values_.receiver = request.receiver;
    values_.timestamp =
        std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch()).count();
  }

  asio::awaitable<SpfOutcome> run(const SpfRequest& request) {
    // RFC 7208 2.4: the null reverse-path is checked as postmaster@HELO; 2.3 likewise for
    // the HELO identity.
    std::string sender = request.identity == SpfIdentity::helo || request.mail_from.empty()
                             ? "postmaster@" + request.helo
                             : request.mail_from;
    size_t at = sender.rfind('@');
    std::string domain = at == sender.npos ? sender : sender.substr(at + 1);
    std::string local = at == sender.npos ? "" : sender.substr(0, at);
    // RFC 7208 4.3: an empty local part is "postmaster".
    if (local.empty()) local = "postmaster";
    values_.sender = local + "@" + domain;
    values_.local_part = local;
    values_.sender_domain = domain;

    auto ip = parse_ip(request.client_ip);
    if (!ip) {
      co_return SpfOutcome{SpfResult::none, "", "the client address is not an IP address", domain};
    }
    ip_ = *ip;
    values_.ip = ip_macro_text(ip_);
    values_.ipv6 = ip_.v6;
    values_.client_ip = ip_text(ip_);
    SpfOutcome outcome = co_await check_host(domain, true);
    outcome.domain = domain;
    co_return outcome;
  }

 private:
  template <class Record>
  asio::awaitable<DnsAnswer<Record>> lookup(ResolverLookup<Record> method, std::string name) {
    if (clock_.now() >= deadline_) co_return DnsAnswer<Record>{DnsStatus::timeout};
    co_return co_await dns_lookup(resolver_, method, std::move(name));
  }

  asio::awaitable<std::vector<std::string>> addresses(const std::string& name, DnsStatus& status) {
    // Two statements, not a conditional expression: with co_await inside ?: GCC 12 built
    // code here that read the answer after it was freed (a crash in the mx mechanism).
    DnsAnswer<std::string> answer;
    if (ip_.v6) {
      answer = co_await lookup(&Resolver::lookup_aaaa, name);
    } else {
      answer = co_await lookup(&Resolver::lookup_a, name);
    }
    status = answer.status;
    co_return std::move(answer.records);
  }

  // RFC 7208 4.6.4: each include, a, mx, ptr, exists and redirect costs one DNS term.
  std::optional<Step> spend_dns_term() {
    if (++dns_terms_ > options_.max_dns_mechanisms) {
      return Step::fail_with(
          SpfResult::permerror,
          "more than " + std::to_string(options_.max_dns_mechanisms) + " DNS-querying terms");
    }
    return std::nullopt;
  }

  // RFC 7208 4.6.4: lookups that find nothing (NXDOMAIN or no records) are limited too.
  std::optional<Step> note_void(DnsStatus status, bool empty) {
    if ((status == DnsStatus::nxdomain || (status == DnsStatus::no_error && empty)) &&
        ++void_lookups_ > options_.max_void_lookups) {
      return Step::fail_with(
          SpfResult::permerror,
          "more than " + std::to_string(options_.max_void_lookups) + " lookups found nothing");
    }
    return std::nullopt;
  }

  // RFC 7208 7.3 %{p} and 5.5: a name from the PTR records of the client that resolves back
  // to it; one at or under `domain` is preferred.
  asio::awaitable<std::optional<std::string>> validated_name(const std::string& domain,
                                                             bool must_match) {
    auto ptr = co_await lookup(&Resolver::lookup_ptr, reverse_name(ip_));
    std::optional<std::string> any;
    size_t tried = 0;
    for (const std::string& name : ptr.records) {
      // RFC 7208 4.6.4: no more than 10 PTR names are looked at.
      if (++tried > static_cast<size_t>(options_.max_mx_or_ptr_names)) break;
      bool wanted = ends_with_domain(name, domain);
      if (must_match && !wanted) continue;
      DnsStatus status;
      std::vector<std::string> found = co_await addresses(name, status);
      for (const std::string& address : found) {
        auto parsed = parse_ip(address);
        if (parsed && in_network(ip_, *parsed, ip_.v6 ? 128 : 32)) {
          if (wanted) co_return name;
          if (!any) any = name;
          break;
        }
      }
    }
    co_return must_match ? std::nullopt : any;
  }

  // Expands a mechanism's or modifier's domain-spec; an empty spec is the current domain.
  asio::awaitable<std::optional<std::string>> target_name(const std::string& spec,
                                                          const std::string& domain) {
    if (spec.empty()) co_return domain;
    SpfMacroValues values = values_;
    values.domain = domain;
    if (spf_macros_use(spec, 'p')) {
      values.validated_name = (co_await validated_name(domain, false)).value_or("unknown");
    }
    auto expanded = expand_spf_macros(spec, values, false);
    if (!expanded) co_return std::nullopt;
    co_return shorten_domain(std::move(*expanded));
  }

  asio::awaitable<Step> evaluate(const SpfMechanism& mechanism, const std::string& domain) {
    switch (mechanism.kind) {
      case SpfMechanismKind::all:
        co_return Step{Step::match};
      case SpfMechanismKind::ip4:
      case SpfMechanismKind::ip6: {
        auto network = parse_ip(mechanism.network);
        bool v6 = mechanism.kind == SpfMechanismKind::ip6;
        int prefix = v6 ? mechanism.ip6_prefix : mechanism.ip4_prefix;
        bool hit = network && ip_.v6 == v6 && in_network(ip_, *network, prefix);
        co_return Step{hit ? Step::match : Step::no_match};
      }
      default:
        break;
    }
    if (auto over = spend_dns_term()) co_return *over;
    auto target = co_await target_name(mechanism.domain_spec, domain);
    if (!target) co_return Step::fail_with(SpfResult::permerror, "a macro did not expand");
    int prefix = ip_.v6 ? mechanism.ip6_prefix : mechanism.ip4_prefix;

    switch (mechanism.kind) {
      case SpfMechanismKind::include: {
        SpfOutcome inner = co_await check_host(*target, false);
        // RFC 7208 5.2: how the included domain's result maps onto a match.
        switch (inner.result) {
          case SpfResult::pass:
            co_return Step{Step::match};
          case SpfResult::fail:
          case SpfResult::softfail:
          case SpfResult::neutral:
            co_return Step{Step::no_match};
          case SpfResult::temperror:
            co_return Step::fail_with(SpfResult::temperror, inner.reason);
          case SpfResult::permerror:
            co_return Step::fail_with(SpfResult::permerror, inner.reason);
          case SpfResult::none:
            co_return Step::fail_with(SpfResult::permerror,
                                      "included domain " + *target + " has no SPF record");
        }
        co_return Step{Step::no_match};
      }
      case SpfMechanismKind::a: {
        DnsStatus status;
        auto found = co_await addresses(*target, status);
        co_return match_addresses(found, status, prefix, *target);
      }
      case SpfMechanismKind::mx: {
        auto mx = co_await lookup(&Resolver::lookup_mx, *target);
        if (is_temporary(mx.status)) {
          co_return Step::fail_with(SpfResult::temperror, "MX lookup of " + *target + " failed");
        }
        if (auto over = note_void(mx.status, mx.records.empty())) co_return *over;
        // RFC 7208 4.6.4: more than 10 MX names is a permerror.
        if (mx.records.size() > static_cast<size_t>(options_.max_mx_or_ptr_names)) {
          co_return Step::fail_with(SpfResult::permerror, *target + " has too many MX records");
        }
        for (const MxRecord& record : mx.records) {
          if (record.exchange.empty()) continue;  // RFC 7505 null MX: no host
          DnsStatus status;
          auto found = co_await addresses(record.exchange, status);
          if (is_temporary(status)) {
            co_return Step::fail_with(SpfResult::temperror,
                                      "address lookup of " + record.exchange + " failed");
          }
          if (contains_ip(found, prefix)) co_return Step{Step::match};
        }
        co_return Step{Step::no_match};
      }
      case SpfMechanismKind::ptr: {
        // RFC 7208 5.5: DNS errors make ptr not match rather than fail the check.
        auto name = co_await validated_name(*target, true);
        co_return Step{name ? Step::match : Step::no_match};
      }
      case SpfMechanismKind::exists: {
        // RFC 7208 5.7: always an A lookup, whatever the client's address family.
        auto answer = co_await lookup(&Resolver::lookup_a, *target);
        if (is_temporary(answer.status)) {
          co_return Step::fail_with(SpfResult::temperror, "A lookup of " + *target + " failed");
        }
        if (auto over = note_void(answer.status, answer.records.empty())) co_return *over;
        co_return Step{answer.records.empty() ? Step::no_match : Step::match};
      }
      default:
        co_return Step{Step::no_match};
    }
  }

  bool contains_ip(const std::vector<std::string>& addresses, int prefix) const {
    for (const std::string& address : addresses) {
      auto parsed = parse_ip(address);
      if (parsed && in_network(ip_, *parsed, prefix)) return true;
    }
    return false;
  }

  Step match_addresses(const std::vector<std::string>& found, DnsStatus status, int prefix,
                       const std::string& target) {
    if (is_temporary(status)) {
      return Step::fail_with(SpfResult::temperror, "address lookup of " + target + " failed");
    }
    if (auto over = note_void(status, found.empty())) return *over;
    return Step{contains_ip(found, prefix) ? Step::match : Step::no_match};
  }

  // RFC 7208 6.2: the explanation for a fail; any problem with it falls back to the default.
  asio::awaitable<std::string> explanation(const std::optional<std::string>& spec,
                                           const std::string& domain) {
    if (!spec) co_return options_.default_explanation;
    auto target = co_await target_name(*spec, domain);
    if (!target || !is_checkable_domain(*target)) co_return options_.default_explanation;
    auto txt = co_await lookup(&Resolver::lookup_txt, *target);
    if (txt.status != DnsStatus::no_error || txt.records.size() != 1) {
      co_return options_.default_explanation;
    }
    std::string text;
    for (const std::string& part : txt.records.front().strings) text += part;
    SpfMacroValues values = values_;
    values.domain = domain;
    if (spf_macros_use(text, 'p')) {
      values.validated_name = (co_await validated_name(domain, false)).value_or("unknown");
    }
    auto expanded = expand_spf_macros(text, values, true);
    if (!expanded) co_return options_.default_explanation;
    co_return *expanded;
  }

  // RFC 7208 4: check_host(<ip>, <domain>, <sender>) for one domain. `explain` is false
  // for an include's target, whose exp= RFC 7208 6.2 says not to use.
  asio::awaitable<SpfOutcome> check_host(std::string domain, bool explain) {
    while (!domain.empty() && domain.back() == '.') domain.pop_back();
    if (!is_checkable_domain(domain)) {
      co_return SpfOutcome{SpfResult::none, "", "\"" + domain + "\" is not a valid domain name"};
    }
    // RFC 7208 4.4: the record lookup.
    auto txt = co_await lookup(&Resolver::lookup_txt, domain);
    if (is_temporary(txt.status)) {
      co_return SpfOutcome{SpfResult::temperror, "", "TXT lookup of " + domain + " failed"};
    }
    // RFC 7208 4.5: records that are not SPF are discarded; more than one is a permerror.
    std::vector<std::string> records;
    for (const TxtRecord& rr : txt.records) {
      std::string joined;  // RFC 7208 3.3: strings are joined without spaces
      for (const std::string& part : rr.strings) joined += part;
      if (is_spf_record(joined)) records.push_back(std::move(joined));
    }
    if (records.empty()) {
      co_return SpfOutcome{SpfResult::none, "", domain + " has no SPF record"};
    }
    if (records.size() > 1) {
      co_return SpfOutcome{SpfResult::permerror, "", domain + " has more than one SPF record"};
    }
    auto parsed = parse_spf_record(records.front());
    if (auto* error = std::get_if<SpfSyntaxError>(&parsed)) {
      co_return SpfOutcome{SpfResult::permerror, "",
                           "SPF record of " + domain + ": " + error->reason};
    }
    const SpfRecord& record = std::get<SpfRecord>(parsed);

    for (const SpfMechanism& mechanism : record.mechanisms) {
      Step step = co_await evaluate(mechanism, domain);
      if (step.kind == Step::error) co_return SpfOutcome{step.error_result, "", step.reason};
      if (step.kind == Step::match) {
        SpfResult result = qualifier_result(mechanism.qualifier);
        SpfOutcome outcome{result, "", "matched in the SPF record of " + domain};
        if (result == SpfResult::fail && explain) {
          outcome.explanation = co_await explanation(record.explanation, domain);
        }
        co_return outcome;
      }
    }
    // RFC 7208 6.1: redirect= applies only when no mechanism matched.
    if (record.redirect) {
      if (auto over = spend_dns_term()) co_return SpfOutcome{over->error_result, "", over->reason};
      auto target = co_await target_name(*record.redirect, domain);
      if (!target) co_return SpfOutcome{SpfResult::permerror, "", "redirect= did not expand"};
      SpfOutcome outcome = co_await check_host(*target, explain);
      // RFC 7208 6.1: a redirect to a domain without a record is a permerror.
      if (outcome.result == SpfResult::none) {
        co_return SpfOutcome{SpfResult::permerror, "",
                             "redirect target " + *target + " has no SPF record"};
      }
      co_return outcome;
    }
    // RFC 7208 4.7: nothing matched.
    co_return SpfOutcome{SpfResult::neutral, "", "no mechanism matched in " + domain};
  }

  Resolver& resolver_;
  const SpfOptions& options_;
  SystemClock system_clock_;
  const Clock& clock_;
  TimePoint deadline_;
  SpfMacroValues values_;
  IpAddress ip_;
  int dns_terms_ = 0;
  int void_lookups_ = 0;
};

}  // namespace

std::string_view to_string(SpfResult result) {
  switch (result) {
    case SpfResult::none:
      return "none";
    case SpfResult::neutral:
      return "neutral";
    case SpfResult::pass:
      return "pass";
    case SpfResult::fail:
      return "fail";
    case SpfResult::softfail:
      return "softfail";
    case SpfResult::temperror:
      return "temperror";
    case SpfResult::permerror:
      return "permerror";
  }
  return "none";
}

asio::awaitable<SpfOutcome> check_spf(Resolver& resolver, SpfRequest request, SpfOptions options) {
  Check check(resolver, request, options);
  co_return co_await check.run(request);
}

SpfOutcome check_spf_blocking(Resolver& resolver, const SpfRequest& request,
                              const SpfOptions& options) {
  asio::io_context io;
  SpfOutcome outcome;
  std::exception_ptr failure;
  asio::co_spawn(io, check_spf(resolver, request, options),
                 [&](std::exception_ptr error, SpfOutcome result) {
                   failure = error;
                   outcome = std::move(result);
                 });
  io.run();
  if (failure) std::rethrow_exception(failure);
  return outcome;
}

}  // namespace herald
