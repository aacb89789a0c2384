#include "dns/unbound_resolver.h"

#include <spdlog/spdlog.h>
#include <unbound.h>

#include <algorithm>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <filesystem>
#include <map>
#include <span>
#include <utility>

#include "dns/rdata.h"

namespace herald {
namespace {

namespace asio = boost::asio;

// RFC 1035 3.2.2, RFC 3596 2.1, RFC 6698 7.1.
constexpr int kTypeA = 1;
constexpr int kTypePtr = 12;
constexpr int kTypeMx = 15;
constexpr int kTypeTxt = 16;
constexpr int kTypeAaaa = 28;
constexpr int kTypeTlsa = 52;
constexpr int kClassIn = 1;
constexpr int kRcodeServfail = 2;

// "192.0.2.1:53" → "192.0.2.1@53", "[2001:db8::1]:53" → "2001:db8::1@53", as
// ub_ctx_set_fwd wants it; a bare address keeps port 53.
std::string forwarder_address(std::string_view server) {
  if (server.starts_with('[')) {
    const size_t close = server.find(']');
    if (close == std::string_view::npos) return std::string(server);
    std::string address(server.substr(1, close - 1));
    if (close + 1 < server.size() && server[close + 1] == ':') {
      address += '@';
      address += server.substr(close + 2);
    }
    return address;
  }
  const size_t colon = server.rfind(':');
  if (colon == std::string_view::npos || server.find(':') != colon) return std::string(server);
  return std::string(server.substr(0, colon)) + "@" + std::string(server.substr(colon + 1));
}

void check(int error, std::string_view what) {
  if (error != 0) throw DnsSetupError(fmt::format("dns: {}: {}", what, ub_strerror(error)));
}

// The records of one type, each rdata parsed by `parse`; rdata of the wrong shape is left
// out (libunbound has already checked the message, so this does not happen in practice).
template <class Record, class Parse>
std::vector<Record> records_of(const ub_result& result, Parse parse) {
  std::vector<Record> records;
  for (int i = 0; result.data[i] != nullptr; ++i) {
    auto rdata = std::span(reinterpret_cast<const uint8_t*>(result.data[i]),
                           static_cast<size_t>(result.len[i]));
    if (auto record = parse(rdata)) records.push_back(std::move(*record));
  }
  return records;
}

template <class Record, class Parse>
DnsAnswer<Record> answer_from(int error, const ub_result* result, Parse parse) {
  DnsAnswer<Record> answer;
  if (error != 0 || result == nullptr) {
    spdlog::warn("dns lookup failed: {}", ub_strerror(error));
    return answer;
  }
  // RFC 4035 5.5: data that fails validation must not be used; like a SERVFAIL it may be
  // fixed by the time of the next attempt.
  if (result->bogus) {
    spdlog::warn("dns answer bogus qname={} why={}", result->qname,
                 result->why_bogus ? result->why_bogus : "");
    return answer;
  }
  if (result->nxdomain) {
    answer.status = DnsStatus::nxdomain;
    answer.secure = result->secure != 0;
    return answer;
  }
  // REFUSED and the like say nothing about the name either.
  if (result->rcode != 0) {
    if (result->rcode != kRcodeServfail) {
      spdlog::warn("dns answer rcode={} qname={}", result->rcode, result->qname);
    }
    return answer;
  }
  answer.status = DnsStatus::no_error;
  answer.secure = result->secure != 0;
  if (result->havedata) {
    answer.records = records_of<Record>(*result, parse);
    if (!answer.records.empty()) answer.ttl = static_cast<uint32_t>(std::max(result->ttl, 0));
  }
  return answer;
}

void sort_by_preference(std::vector<MxRecord>& mx) {
  std::stable_sort(mx.begin(), mx.end(), [](const MxRecord& x, const MxRecord& y) {
    return x.preference < y.preference;
  });
}

struct KeepServerOrder {
  template <class Record>
  void operator()(std::vector<Record>&) const {}
};

}  // namespace

class UnboundResolver::Impl : public std::enable_shared_from_this<Impl> {
 public:
  // Turns libunbound's result (nullptr on timeout) into the caller's typed answer.
  using Complete = std::function<void(int error, const ub_result* result)>;

  Impl(asio::io_context& io, const DnsConfig& config, const std::filesystem::path& trust_anchor);
  ~Impl();

  void start(std::string name, int type, Complete complete);

 private:
  struct Query {
    Impl* owner;
    uint64_t serial;
    int async_id = 0;
    asio::steady_timer timer;
    Complete complete;
  };

  void configure(const DnsConfig& config, const std::filesystem::path& trust_anchor);
  void submit(std::string name, int type, Complete complete);
  void watch();
  void time_out(uint64_t serial);
  static void on_result(void* data, int error, ub_result* result);
  void finish(Query& query, int error, ub_result* result);

  asio::strand<asio::io_context::executor_type> strand_;
  const std::chrono::seconds timeout_;
  ub_ctx* ctx_ = nullptr;
  asio::posix::stream_descriptor results_;  // libunbound's result pipe, not ours to close
  bool watching_ = false;
  uint64_t next_serial_ = 0;
  std::map<uint64_t, std::unique_ptr<Query>> queries_;
};

UnboundResolver::Impl::Impl(asio::io_context& io, const DnsConfig& config,
                            const std::filesystem::path& trust_anchor)
    : strand_(asio::make_strand(io)), timeout_(config.timeout), results_(io) {
  ctx_ = ub_ctx_create();
  if (ctx_ == nullptr) throw DnsSetupError("dns: cannot create the libunbound context");
  try {
    configure(config, trust_anchor);
  } catch (...) {
    ub_ctx_delete(ctx_);
    throw;
  }
  results_.assign(ub_fd(ctx_));
}

UnboundResolver::Impl::~Impl() {
  results_.release();
  ub_ctx_delete(ctx_);
}

void UnboundResolver::Impl::configure(const DnsConfig& config,
                                      const std::filesystem::path& trust_anchor) {
  // A thread, not the default forked process: forking a threaded server is unsafe.
  check(ub_ctx_async(ctx_, 1), "async");
  if (config.servers.empty()) {
    check(ub_ctx_resolvconf(ctx_, nullptr), "reading /etc/resolv.conf");
  } else {
    for (const std::string& server : config.servers) {
      check(ub_ctx_set_fwd(ctx_, forwarder_address(server).c_str()), "forwarder " + server);
    }
    check(ub_ctx_set_option(ctx_, "do-not-query-localhost:", "no"), "do-not-query-localhost");
    check(ub_ctx_set_option(ctx_, "domain-insecure:", "test."), "domain-insecure test.");
  }
  // Answers, NXDOMAIN included, are cached for their TTL and no longer (RFC 1035 3.2.1,
  // RFC 2308 5): a changed SPF, DKIM or MX record counts once its old TTL has run out. These
  // are libunbound's defaults, pinned here because a raised minimum or serving expired
  // records would keep a domain's withdrawn key or policy in use past what it published.
  check(ub_ctx_set_option(ctx_, "cache-min-ttl:", "0"), "cache-min-ttl");
  check(ub_ctx_set_option(ctx_, "serve-expired:", "no"), "serve-expired");
  std::error_code ignored;
  if (!trust_anchor.empty() && std::filesystem::exists(trust_anchor, ignored)) {
    check(ub_ctx_add_ta_file(ctx_, trust_anchor.c_str()), "trust anchor " + trust_anchor.string());
  }
  // Last: adding a zone finalizes the context, after which options can no longer change.
  if (!config.servers.empty()) {
    check(ub_ctx_zone_add(ctx_, "test.", "nodefault"), "local-zone test.");
  }
}

void UnboundResolver::Impl::start(std::string name, int type, Complete complete) {
  asio::post(strand_, [self = shared_from_this(), name = std::move(name), type,
                       complete = std::move(complete)]() mutable {
    self->submit(std::move(name), type, std::move(complete));
  });
}

void UnboundResolver::Impl::submit(std::string name, int type, Complete complete) {
  const uint64_t serial = next_serial_++;
  auto query = std::make_unique<Query>(
      Query{this, serial, 0, asio::steady_timer(strand_), std::move(complete)});
  const int error = ub_resolve_async(ctx_, name.c_str(), type, kClassIn, query.get(),
                                     &Impl::on_result, &query->async_id);
  if (error != 0) {
    query->complete(error, nullptr);
    return;
  }
  query->timer.expires_after(timeout_);
  query->timer.async_wait([self = shared_from_this(), serial](boost::system::error_code ec) {
    if (!ec) self->time_out(serial);
  });
  queries_.emplace(serial, std::move(query));
  if (!watching_) watch();
}

void UnboundResolver::Impl::watch() {
  watching_ = true;
  results_.async_wait(
      asio::posix::stream_descriptor::wait_read,
      asio::bind_executor(strand_, [self = shared_from_this()](boost::system::error_code ec) {
        self->watching_ = false;
        // On an error the pending lookups end by their timeouts; the next lookup watches
        // again. Processing regardless would spin on a broken descriptor.
        if (ec) {
          if (ec != asio::error::operation_aborted)
            spdlog::error("dns: result pipe: {}", ec.message());
          return;
        }
        // Calls on_result for every answer that has arrived.
        const int error = ub_process(self->ctx_);
        if (error != 0) spdlog::error("dns: ub_process: {}", ub_strerror(error));
        if (!self->queries_.empty()) self->watch();
      }));
}

void UnboundResolver::Impl::time_out(uint64_t serial) {
  auto node = queries_.extract(serial);
  // The answer came first; its completion ran in this strand before this handler.
  if (node.empty()) return;
  Query& query = *node.mapped();
  // After ub_cancel libunbound never calls on_result for the query, so it can go.
  ub_cancel(ctx_, query.async_id);
  query.complete(0, nullptr);
  if (queries_.empty()) results_.cancel();
}

void UnboundResolver::Impl::on_result(void* data, int error, ub_result* result) {
  auto& query = *static_cast<Query*>(data);
  query.owner->finish(query, error, result);
}

void UnboundResolver::Impl::finish(Query& query, int error, ub_result* result) {
  auto node = queries_.extract(query.serial);
  query.timer.cancel();
  query.complete(error, result);
  ub_resolve_free(result);
}

UnboundResolver::UnboundResolver(asio::io_context& io, const DnsConfig& config,
                                 const std::filesystem::path& trust_anchor)
    : impl_(std::make_shared<Impl>(io, config, trust_anchor)) {}

UnboundResolver::~UnboundResolver() = default;

namespace {

// The Complete for one record type: a timeout (no result, no error) is reported as such,
// everything else goes through answer_from.
template <class Record, class Parse, class Order = KeepServerOrder>
std::function<void(int, const ub_result*)> completion(Resolver::Done<Record> done, Parse parse,
                                                      Order order = {}) {
  return [done = std::move(done), parse, order](int error, const ub_result* result) {
    if (error == 0 && result == nullptr) {
      DnsAnswer<Record> timed_out;
      timed_out.status = DnsStatus::timeout;
      done(std::move(timed_out));
      return;
    }
    DnsAnswer<Record> answer = answer_from<Record>(error, result, parse);
    order(answer.records);
    done(std::move(answer));
  };
}

}  // namespace

void UnboundResolver::lookup_mx(std::string name, Done<MxRecord> done) {
  impl_->start(std::move(name), kTypeMx,
               completion(std::move(done), parse_mx_rdata, sort_by_preference));
}

void UnboundResolver::lookup_a(std::string name, Done<std::string> done) {
  impl_->start(std::move(name), kTypeA, completion(std::move(done), parse_a_rdata));
}

void UnboundResolver::lookup_aaaa(std::string name, Done<std::string> done) {
  impl_->start(std::move(name), kTypeAaaa, completion(std::move(done), parse_aaaa_rdata));
}

void UnboundResolver::lookup_txt(std::string name, Done<TxtRecord> done) {
  impl_->start(std::move(name), kTypeTxt, completion(std::move(done), parse_txt_rdata));
}

void UnboundResolver::lookup_tlsa(std::string name, Done<TlsaRecord> done) {
  impl_->start(std::move(name), kTypeTlsa, completion(std::move(done), parse_tlsa_rdata));
}

void UnboundResolver::lookup_ptr(std::string name, Done<std::string> done) {
  impl_->start(std::move(name), kTypePtr, completion(std::move(done), parse_name_rdata));
}

}  // namespace herald
