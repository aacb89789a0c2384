// The content of an inbound message, from its first octet to its commit: received into the
// store a piece at a time, checked (DKIM, ARC, DMARC), sealed, and committed.
#include <spdlog/spdlog.h>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>

#include "smtp/server_connection_impl.h"
#include "store/stored_content.h"

namespace herald {
namespace {

// MessageAuthenticator::authenticate as co_await: it starts on the verification pool and the
// coroutine resumes on its own executor, whatever thread the last DNS answer or check came on.
// The authenticator copies what it keeps of the content (the header and the shared body,
// whose pieces it reads from the store), so nothing here must outlive the call.
asio::awaitable<MessageAuthentication> authenticate(SenderChecks& checks,
                                                    std::shared_ptr<const MessageContent> content,
                                                    SpfCheck spf) {
  auto initiate = [&checks](auto handler, std::shared_ptr<const MessageContent> content,
                            SpfCheck spf) {
    // std::function must be copyable; the coroutine's handler is move-only.
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    asio::post(checks.verify_executor,
               [&checks, shared, content = std::move(content), spf = std::move(spf)]() mutable {
                 checks.authenticator.authenticate(
                     *content, std::move(spf), [shared](MessageAuthentication auth) {
                       auto executor = asio::get_associated_executor(*shared);
                       asio::post(executor, [shared, auth = std::move(auth)]() mutable {
                         std::move (*shared)(std::move(auth));
                       });
                     });
               });
  };
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>,
                                          void(MessageAuthentication)>(
      initiate, asio::use_awaitable, std::move(content), std::move(spf));
}

}  // namespace

// RFC 5321 4.5.3.2.5: the timeout is per data block (each read), not for the whole transfer,
// which max_session_time bounds.
asio::awaitable<SessionStep> SmtpConnection::Impl::receive_data() {
  for (;;) {
    consume(session_.on_data(buffered()));
    if (session_.piece_ready()) {
      co_await store_ready_pieces();
      continue;
    }
    if (session_.data_complete()) break;
    co_await flush();
    arm(services_.settings.limits.data_timeout);
    co_await fill();
  }
  co_return after_content(co_await off_io([this] { return session_.on_data_end(); }));
}

// RFC 3030 2: exactly `size` octets follow the BDAT command, whatever its answer will be.
asio::awaitable<SessionStep> SmtpConnection::Impl::receive_chunk(uint64_t size) {
  uint64_t remaining = size;
  while (remaining > 0) {
    if (buffered().empty()) {
      co_await flush();
      arm(services_.settings.limits.data_timeout);
      co_await fill();
    }
    const std::string_view piece =
        buffered().substr(0, std::min<uint64_t>(remaining, buffered().size()));
    const size_t taken = session_.on_chunk_data(piece);
    consume(taken);
    remaining -= taken;
    if (session_.piece_ready()) co_await store_ready_pieces();
  }
  co_return after_content(co_await off_io([this] { return session_.on_chunk_end(); }));
}

// The session's end-of-data work is linear in the header section (up to [limits]
// max_header_size): the forged Authentication-Results removed, the From checked, the trace
// fields put on top. A megabyte of it would hold up every session sharing the io thread, so
// a large header is worked on in the commit pool (the session is this coroutine's alone, and
// the coroutine waits); a common one, a few KiB, costs less than the two thread hops would.
asio::awaitable<SessionStep> SmtpConnection::Impl::off_io(std::function<SessionStep()> step) {
  constexpr uint64_t kInlineHeaderOctets = 64 * 1024;
  if (session_.header_octets() < kInlineHeaderOctets) co_return step();
  co_return co_await asio::co_spawn(
      services_.commit_executor, [&]() -> asio::awaitable<SessionStep> { co_return step(); },
      asio::use_awaitable);
}

asio::awaitable<void> SmtpConnection::Impl::store_ready_pieces() {
  Store& store = services_.store;
  while (session_.piece_ready()) {
    BodyPiece piece = session_.take_piece();
    try {
      co_await asio::co_spawn(
          services_.commit_executor,
          [&]() -> asio::awaitable<void> {
            store.write_body_piece(piece.message_id, piece.index, piece.bytes);
            co_return;
          },
          asio::use_awaitable);
    } catch (const StoreError& e) {
      spdlog::error("session={} storing body piece {} of id={} failed: {}", id_, piece.index,
                    piece.message_id, e.what());
      session_.on_piece_not_stored();
    }
  }
}

asio::awaitable<void> SmtpConnection::Impl::discard_abandoned_bodies(bool closing) {
  std::vector<ArrivingBody> bodies = session_.take_abandoned_bodies();
  if (closing && session_.arriving_body()) bodies.push_back(*session_.arriving_body());
  if (bodies.empty()) co_return;
  Store& store = services_.store;
  try {
    co_await asio::co_spawn(
        services_.commit_executor,
        [&]() -> asio::awaitable<void> {
          for (const ArrivingBody& body : bodies) store.discard_body(body.message_id, body.pieces);
          co_return;
        },
        asio::use_awaitable);
  } catch (const StoreError& e) {
    spdlog::warn("session={} dropping {} unfinished bodies failed (dropped at the next start): {}",
                 id_, bodies.size(), e.what());
  }
}

MessageContent SmtpConnection::Impl::content_to_check() const {
  const ContentToCommit& content = session_.message_to_commit().content;
  const std::string& id = session_.message_to_commit().record.id;
  auto body =
      std::make_shared<StoredBody>(services_.store, id, content.pieces_written,
                                   content.written_size + content.rest.size(), content.rest);
  return MessageContent{content.header, std::move(body)};
}

// RFC 5321 4.5.3.2.6: the client waits 10 minutes for the answer to the end of data. herald's
// own work until the commit (the sender checks, the seal) gets limits.end_of_data_timeout, so
// that the answer (or a 421) comes first. A refusal of the content is logged.
SessionStep SmtpConnection::Impl::after_content(SessionStep step) {
  arm(services_.settings.limits.end_of_data_timeout);
  if (step.reply && step.reply->code >= 400) {
    spdlog::info("session={} content refused peer={}: {} {}", id_, peer_.ip, step.reply->code,
                 step.reply->lines.front());
  }
  return step;
}

// The 250 waits for this: the message, its deliveries and its first ledger events are on
// stable storage before the client is told (DESIGN.md promise 1). The commit blocks on
// fsync, so it runs on the commit pool, where concurrent sessions share fsyncs.
asio::awaitable<SessionStep> SmtpConnection::Impl::commit() {
  co_await flush();
  throw_if_timed_out();  // the end-of-data deadline passed during the checks: nothing stored
  disarm();              // a commit cannot be abandoned halfway; the client waits for it
  const AcceptedMessage& message = session_.message_to_commit();
  Store& store = services_.store;
  try {
    co_await asio::co_spawn(
        services_.commit_executor,
        [&]() -> asio::awaitable<void> {
          store.commit_message(message.record, message.content, message.deliveries, message.events);
          co_return;
        },
        asio::use_awaitable);
  } catch (const std::exception& e) {
    spdlog::error("session={} commit failed id={}: {}", id_, message.record.id, e.what());
    co_return session_.on_commit_failed();
  }
  services_.queue.enqueue(message.record, message.deliveries);
  const Envelope& envelope = message.record.envelope;
  spdlog::info("accepted id={} from=<{}> rcpts={} size={} peer={} session={}", message.record.id,
               envelope.mail_from, envelope.rcpt_to.size(), message.record.size, peer_.ip, id_);
  co_return session_.on_commit_succeeded();
}

// DKIM and DMARC need the whole content; the client waits for the end-of-data reply.
asio::awaitable<SessionStep> SmtpConnection::Impl::check_message() {
  co_await flush();
  SenderChecks& checks = *services_.sender_checks;
  auto content = std::make_shared<const MessageContent>(content_to_check());
  SpfCheck spf = session_.spf_check();
  const MessageAuthentication auth =
      co_await authenticate(checks, std::move(content), std::move(spf));
  throw_if_timed_out();
  SessionStep step = co_await off_io([&] { return session_.on_message_checked(auth); });
  if (step.reply && !step.reply->is_positive()) {
    spdlog::info("session={} refused from=<{}> peer={} dmarc={} from_domain={}: {}", id_,
                 auth.spf.request.mail_from, peer_.ip, to_string(auth.dmarc_result),
                 auth.from_domain, step.reply->lines.front());
  }
  co_return step;
}

// Two signatures (RSA: about a millisecond each), on the verification pool.
asio::awaitable<SessionStep> SmtpConnection::Impl::seal_message() {
  SenderChecks& checks = *services_.sender_checks;
  const ArcSealer& sealer = *checks.sealer;
  const MessageContent content = content_to_check();
  const ServerSession::ArcSealRequest& request = session_.seal_request();
  const std::string& authserv_id = services_.settings.hostname;
  const TimePoint now = services_.clock.now();
  std::variant<std::string, ArcSealError> sealed = co_await asio::co_spawn(
      checks.verify_executor,
      [&]() -> asio::awaitable<std::variant<std::string, ArcSealError>> {
        co_return sealer.seal(content, authserv_id, request.results, request.chain, now);
      },
      asio::use_awaitable);
  throw_if_timed_out();
  if (auto* error = std::get_if<ArcSealError>(&sealed)) {
    spdlog::warn("session={} arc seal skipped: {}", id_, error->reason);
    co_return session_.on_seal_refused(error->reason);
  }
  co_return co_await off_io(
      [&] { return session_.on_message_sealed(std::move(std::get<std::string>(sealed))); });
}

}  // namespace herald
